package dispatch

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// heartbeats sends in-progress acks for messages held longer than a third of the
// shortest AckWait (waiting for a slot or in a slow attempt), so the server never
// hands a message that a live gateway is working on to another gateway.
type heartbeats struct {
	every time.Duration
	mu    sync.Mutex
	held  map[jetstream.Msg]time.Time
}

func newHeartbeats(every time.Duration) *heartbeats {
	if every <= 0 {
		every = time.Second
	}
	return &heartbeats{every: every, held: map[jetstream.Msg]time.Time{}}
}

func (h *heartbeats) add(m jetstream.Msg) {
	h.mu.Lock()
	h.held[m] = time.Now()
	h.mu.Unlock()
}

func (h *heartbeats) remove(m jetstream.Msg) {
	h.mu.Lock()
	delete(h.held, m)
	h.mu.Unlock()
}

func (h *heartbeats) run(ctx context.Context) {
	t := time.NewTicker(h.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			h.mu.Lock()
			var due []jetstream.Msg
			for m, since := range h.held {
				if now.Sub(since) >= h.every {
					due = append(due, m)
				}
			}
			h.mu.Unlock()
			for _, m := range due {
				_ = m.InProgress()
			}
		}
	}
}
