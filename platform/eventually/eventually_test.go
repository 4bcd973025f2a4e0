package eventually_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/platform/eventually"
)

// recorder stands in for a test so a failing wait can be observed.
type recorder struct {
	testing.TB
	failed atomic.Bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Fatalf(string, ...any) { r.failed.Store(true) }

func TestTrueWaitsForTheCondition(t *testing.T) {
	var n atomic.Int32
	eventually.True(t, 5*time.Second, "third poll", func() bool { return n.Add(1) >= 3 })
	if got := n.Load(); got != 3 {
		t.Fatalf("polled %d times, want 3", got)
	}
}

func TestTrueFailsAfterTheDeadline(t *testing.T) {
	r := &recorder{TB: t}
	eventually.True(r, 50*time.Millisecond, "never", func() bool { return r.failed.Load() })
	if !r.failed.Load() {
		t.Fatal("a condition that never held did not fail the test")
	}
}

func TestNoErrorFailsAfterTheDeadline(t *testing.T) {
	r := &recorder{TB: t}
	eventually.NoError(r, 50*time.Millisecond, "never", func() error {
		if r.failed.Load() {
			return nil
		}
		return errors.New("not yet")
	})
	if !r.failed.Load() {
		t.Fatal("a condition that kept failing did not fail the test")
	}
}
