// Package outbox runs the relay loop shared by the service's two outboxes (events
// to publish, fulfillment webhooks to send): rows are written in the effect's
// transaction and sent after commit, woken at once by the writer and otherwise at
// the next due time, so they survive restarts and are retried with back-off.
package outbox

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Backoff is exponential back-off with jitter: the n-th retry waits between half
// of and the whole min(Max, Initial·2^(n-1)), so retries spread out without
// collapsing to zero.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
}

// Validate reports a back-off that cannot work.
func (b Backoff) Validate() error {
	if b.Initial <= 0 || b.Max < b.Initial {
		return errors.New("backoff: want 0 < Initial <= Max")
	}
	return nil
}

// Delay is the wait after the attempt-th failed attempt (attempt >= 1).
func (b Backoff) Delay(attempt int) time.Duration {
	d := b.Initial
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	half := d / 2
	return half + rand.N(d-half+1)
}

// Step handles one batch of due rows. more reports that a full batch was handled
// and another may be due already.
type Step func(ctx context.Context) (more bool, err error)

// NextDue says when the earliest row is due; ok false when none is waiting.
type NextDue func(ctx context.Context) (t time.Time, ok bool, err error)

// Relay runs a Step whenever it is woken, when the next row falls due, and at
// least every Poll (rows written by other replicas).
type Relay struct {
	name    string
	step    Step
	nextDue NextDue
	poll    time.Duration
	logger  *slog.Logger
	wake    chan struct{}
}

// NewRelay returns a relay; name is used in logs.
func NewRelay(name string, step Step, nextDue NextDue, poll time.Duration, logger *slog.Logger) (*Relay, error) {
	if step == nil || nextDue == nil {
		return nil, errors.New("outbox relay: step and nextDue are required")
	}
	if poll <= 0 {
		return nil, errors.New("outbox relay: poll interval must be positive")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Relay{name: name, step: step, nextDue: nextDue, poll: poll, logger: logger, wake: make(chan struct{}, 1)}, nil
}

// Wake makes the relay look for due rows now. It never blocks.
func (r *Relay) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run relays until ctx ends; it returns nil then.
func (r *Relay) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-timer.C:
		}
		more, err := r.step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			r.logger.ErrorContext(ctx, "outbox step failed", "outbox", r.name, "error", err.Error())
		}
		wait := r.poll
		switch {
		case err != nil:
			// Keep the poll interval: the store is failing.
		case more:
			wait = 0
		default:
			next, ok, err := r.nextDue(ctx)
			if err != nil {
				r.logger.ErrorContext(ctx, "outbox next due time", "outbox", r.name, "error", err.Error())
			} else if ok {
				wait = min(max(time.Until(next), 0), r.poll)
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}
