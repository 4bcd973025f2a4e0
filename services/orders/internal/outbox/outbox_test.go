package outbox_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/platform/eventually"
	"github.com/hookmesh/hookmesh/services/orders/internal/outbox"
)

func TestBackoffDelay(t *testing.T) {
	b := outbox.Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{4, 400 * time.Millisecond, 800 * time.Millisecond},
		{5, 500 * time.Millisecond, time.Second},
		{60, 500 * time.Millisecond, time.Second},
	}
	for _, tc := range tests {
		for range 200 {
			if d := b.Delay(tc.attempt); d < tc.min || d > tc.max {
				t.Fatalf("Delay(%d) = %v, want within [%v, %v]", tc.attempt, d, tc.min, tc.max)
			}
		}
	}
	for _, bad := range []outbox.Backoff{{}, {Initial: -1, Max: time.Second}, {Initial: time.Second, Max: time.Millisecond}} {
		if bad.Validate() == nil {
			t.Errorf("Validate(%+v) accepted it", bad)
		}
	}
}

func TestRelay(t *testing.T) {
	none := func(context.Context) (time.Time, bool, error) { return time.Time{}, false, nil }

	t.Run("a wake runs a step at once", func(t *testing.T) {
		var steps atomic.Int32
		r, err := outbox.NewRelay("t", func(context.Context) (bool, error) { steps.Add(1); return false, nil }, none, time.Hour, nil)
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, r)
		defer stop()
		eventually.True(t, 20*time.Second, "the outbox steps", func() bool { return steps.Load() == 1 }) // the first look at start
		r.Wake()
		eventually.True(t, 20*time.Second, "the outbox steps", func() bool { return steps.Load() == 2 })
	})

	t.Run("a full batch is followed by another step", func(t *testing.T) {
		var steps atomic.Int32
		r, _ := outbox.NewRelay("t", func(context.Context) (bool, error) { return steps.Add(1) < 5, nil }, none, time.Hour, nil)
		stop := run(t, r)
		defer stop()
		eventually.True(t, 20*time.Second, "the outbox steps", func() bool { return steps.Load() == 5 })
	})

	t.Run("the next due row is waited for", func(t *testing.T) {
		var steps atomic.Int32
		due := time.Now().Add(50 * time.Millisecond)
		next := func(context.Context) (time.Time, bool, error) { return due, steps.Load() < 2, nil }
		r, _ := outbox.NewRelay("t", func(context.Context) (bool, error) { steps.Add(1); return false, nil }, next, time.Hour, nil)
		stop := run(t, r)
		defer stop()
		eventually.True(t, 20*time.Second, "the outbox steps", func() bool { return steps.Load() == 2 })
	})

	t.Run("a failing step is retried at the poll interval", func(t *testing.T) {
		var steps atomic.Int32
		r, _ := outbox.NewRelay("t", func(context.Context) (bool, error) { steps.Add(1); return true, errors.New("db down") }, none, 10*time.Millisecond, nil)
		stop := run(t, r)
		defer stop()
		eventually.True(t, 20*time.Second, "the outbox steps", func() bool { return steps.Load() >= 3 })
	})

	t.Run("needs a step, a next-due function and a poll interval", func(t *testing.T) {
		step := func(context.Context) (bool, error) { return false, nil }
		if _, err := outbox.NewRelay("t", nil, none, time.Second, nil); err == nil {
			t.Error("nil step accepted")
		}
		if _, err := outbox.NewRelay("t", step, nil, time.Second, nil); err == nil {
			t.Error("nil nextDue accepted")
		}
		if _, err := outbox.NewRelay("t", step, none, 0, nil); err == nil {
			t.Error("zero poll accepted")
		}
	})
}

func run(t *testing.T, r *outbox.Relay) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not stop")
		}
	}
}
