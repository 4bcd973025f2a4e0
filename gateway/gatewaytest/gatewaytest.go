// Package gatewaytest runs a whole gateway for the tests of the gateway and
// of the packages that need one.
package gatewaytest

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// Gateway is what Run needs of a *gateway.Gateway (an interface, so the
// gateway's own tests can use this package without an import cycle).
type Gateway interface {
	Run(ctx context.Context) error
	HTTPAddr() string
}

// Run runs g (from gateway.New) for the rest of the test: it waits until /readyz
// answers 200 and, at cleanup, stops g and reports a Run error or a stop that
// takes over 30 s. It returns the base URL of g's HTTP listener.
func Run(tb testing.TB, g Gateway) string {
	tb.Helper()
	// Not tb.Context(): that ends before every cleanup, also those that still
	// need the gateway.
	ctx, cancel := context.WithCancel(context.Background()) //nolint:usetesting // see above
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("gateway Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			tb.Error("gateway did not stop within 30 s (a live stream holding Shutdown?)")
		}
	})
	base := "http://" + g.HTTPAddr()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case err := <-done:
			done <- err // for the cleanup
			tb.Fatalf("gateway stopped before it was ready: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("gateway not ready after 30 s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
