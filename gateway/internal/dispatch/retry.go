package dispatch

import (
	"time"
)

// Attempts is the bound: the total number of attempts of one delivery cycle.
// Fixed follows Hasura (num_retries + 1); exponential is max_attempts.
func (p RetryPolicy) Attempts() int {
	if p.Policy == PolicyFixed {
		return p.NumRetries + 1
	}
	return p.MaxAttempts
}

// MaxDelay is the longest delay the policy itself would choose; a consumer's
// RetryInfo is capped to it, so a consumer can shorten but never stretch the bound.
func (p RetryPolicy) MaxDelay() time.Duration {
	if p.Policy == PolicyFixed {
		return p.Interval
	}
	return p.Max
}

// Delay is the wait after failed attempt number failed (1-based) before the next.
// rnd is uniform in [0,1): exponential backoff uses full jitter, a uniform delay
// in [0, min(max, initial*2^(failed-1))].
func (p RetryPolicy) Delay(failed int, rnd float64) time.Duration {
	if p.Policy == PolicyFixed {
		return p.Interval
	}
	ceiling := p.Initial
	for i := 1; i < failed && ceiling < p.Max; i++ {
		ceiling *= 2
	}
	if ceiling > p.Max || ceiling <= 0 {
		ceiling = p.Max
	}
	return time.Duration(rnd * float64(ceiling))
}

// next decides what follows failed attempt number failed: another attempt after
// delay, or none (exhausted). hint is the consumer's RetryInfo delay, if any.
func (p RetryPolicy) next(failed int, rnd float64, hint *time.Duration) (delay time.Duration, again bool) {
	if failed >= p.Attempts() {
		return 0, false
	}
	if hint != nil {
		d := *hint
		if d < 0 {
			d = 0
		}
		if d > p.MaxDelay() {
			d = p.MaxDelay()
		}
		return d, true
	}
	return p.Delay(failed, rnd), true
}
