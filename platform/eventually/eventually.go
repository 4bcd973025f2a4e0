// Package eventually waits in tests for a condition that holds after some
// asynchronous work: liveness with a generous deadline, never a timing assertion.
package eventually

import (
	"testing"
	"time"
)

// interval is how often a condition is polled.
const interval = 20 * time.Millisecond

// True polls cond until it returns true, failing tb with what after within.
func True(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(interval)
	}
}

// NoError polls cond until it returns nil, failing tb with what and the last
// error after within.
func NoError(tb testing.TB, within time.Duration, what string, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: still failing after %s: %v", what, within, err)
		}
		time.Sleep(interval)
	}
}
