// Package ratelimit is the per-source token bucket of the ingest path. The gateway
// counts a request only after its signature verified, so unauthenticated traffic
// cannot use up a sender's budget; over the rate the answer is 429 rate_limited
// with Retry-After.
package ratelimit

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Config sets one source's rate. The zero Config is unlimited.
type Config struct {
	// RequestsPerSecond is the sustained rate; 0 means unlimited.
	RequestsPerSecond float64
	// Burst is how many requests may arrive at once after a quiet period; 0 means
	// max(1, ⌈RequestsPerSecond⌉).
	Burst int
}

// Validate rejects negative, NaN or infinite values (a config loader calls it so a
// typo fails at start rather than turning into "unlimited").
func (c Config) Validate() error {
	if c.RequestsPerSecond < 0 || math.IsNaN(c.RequestsPerSecond) || math.IsInf(c.RequestsPerSecond, 0) {
		return fmt.Errorf("rate limit: requests per second %v: want a finite number ≥ 0", c.RequestsPerSecond)
	}
	if c.Burst < 0 {
		return fmt.Errorf("rate limit: burst %d: want ≥ 0", c.Burst)
	}
	if c.RequestsPerSecond == 0 && c.Burst > 0 {
		return fmt.Errorf("rate limit: burst %d without requests per second", c.Burst)
	}
	return nil
}

// Limiter is a token bucket, safe for concurrent use. A nil *Limiter allows everything.
type Limiter struct {
	rate  float64 // tokens per second; 0 = unlimited
	burst float64

	mu     sync.Mutex
	tokens float64
	last   time.Time // time tokens was last brought up to date
}

// New returns a limiter for cfg, full at first use. A Config that does not pass
// Validate, like the zero Config, is unlimited; call Validate to reject it instead.
func New(cfg Config) *Limiter {
	if cfg.Validate() != nil || cfg.RequestsPerSecond == 0 {
		return &Limiter{}
	}
	burst := cfg.Burst
	if burst == 0 {
		burst = max(1, int(math.Ceil(cfg.RequestsPerSecond)))
	}
	return &Limiter{rate: cfg.RequestsPerSecond, burst: float64(burst), tokens: float64(burst)}
}

// Unlimited reports whether Allow always says yes.
func (l *Limiter) Unlimited() bool { return l == nil || l.rate == 0 }

// Allow takes one token at now. When none is left it returns false and how long
// until one will be (the Retry-After; see RetryAfterSeconds). A clock that goes
// backwards adds no tokens.
func (l *Limiter) Allow(now time.Time) (ok bool, retryAfter time.Duration) {
	if l.Unlimited() {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last.IsZero() {
		l.last = now
	}
	if elapsed := now.Sub(l.last); elapsed > 0 {
		l.tokens = math.Min(l.burst, l.tokens+elapsed.Seconds()*l.rate)
		l.last = now
	}
	if l.tokens >= 1 {
		l.tokens--
		return true, 0
	}
	wait := time.Duration(math.Ceil((1 - l.tokens) / l.rate * float64(time.Second)))
	return false, max(wait, time.Nanosecond)
}

// RetryAfterSeconds renders a wait as the integer seconds of a Retry-After header,
// rounded up and at least 1 (senders such as Hasura read only whole seconds).
func RetryAfterSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	return max(1, s)
}
