package scheduler

import (
	"context"
	"testing"
	"time"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
)

// BenchmarkOneOffFire measures one one-off event from CreateScheduledEvent (due at
// once) to its event in the log: the KV create, the claim, the append and the FIRED
// update, on the embedded server.
func BenchmarkOneOffFire(b *testing.B) {
	dir := b.TempDir()
	log := openLog(b, dir)
	clk := newFakeClock(time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC))
	s, err := New(b.Context(), Config{Log: log, JS: log.JetStream(), Clock: clk})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(b.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done }) //nolint:errcheck // Run's result once cancelled is not what this measures
	b.ResetTimer()
	for range b.N {
		resp, err := s.CreateScheduledEvent(ctx, &adminv1.CreateScheduledEventRequest{Name: "bench", ScheduledTime: tsOf(clk.Now())})
		if err != nil {
			b.Fatal(err)
		}
		id := resp.GetScheduledEvent().GetId()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, _, err := log.Get(ctx, SourceScheduled, id); err == nil {
				break
			}
			if time.Now().After(deadline) {
				b.Fatal("event not fired")
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
}
