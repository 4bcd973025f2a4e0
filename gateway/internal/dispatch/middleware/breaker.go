package middleware

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
)

// BreakerConfig configures a circuit breaker.
type BreakerConfig struct {
	// Failures is how many consecutive counted failures open the breaker.
	Failures int
	// Cooldown is how long it stays open before one trial call is let through.
	Cooldown time.Duration
	// Counts says which errors count as failures (e.g. retryable codes only).
	Counts func(error) bool
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// ErrOpen is returned, as UNAVAILABLE, while the breaker is open.
var ErrOpen = status.Error(codes.Unavailable, "circuit breaker open")

// Breaker fails calls fast with ErrOpen after Failures consecutive failures, for
// Cooldown; then it lets one call through (half-open) and closes on its success.
func Breaker(cfg BreakerConfig) Middleware {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Counts == nil {
		cfg.Counts = func(err error) bool { return err != nil }
	}
	b := &breaker{cfg: cfg}
	return func(next Handler) Handler {
		return func(ctx context.Context, req *consumerv1.DeliverRequest) error {
			if !b.allow() {
				return ErrOpen
			}
			err := next(ctx, req)
			b.record(err != nil && cfg.Counts(err))
			return err
		}
	}
}

type breaker struct {
	cfg       BreakerConfig
	mu        sync.Mutex
	failures  int
	openUntil time.Time
	trial     bool // a half-open trial call is running
}

func (b *breaker) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failures < b.cfg.Failures {
		return true
	}
	if b.cfg.Now().Before(b.openUntil) || b.trial {
		return false
	}
	b.trial = true
	return true
}

func (b *breaker) record(failed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.trial = false
	if !failed {
		b.failures = 0
		return
	}
	b.failures++
	if b.failures >= b.cfg.Failures {
		b.openUntil = b.cfg.Now().Add(b.cfg.Cooldown)
	}
}
