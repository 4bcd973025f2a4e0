package ratelimit

import (
	"math"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestZeroConfigIsUnlimited(t *testing.T) {
	for name, l := range map[string]*Limiter{"zero": New(Config{}), "nil": nil} {
		t.Run(name, func(t *testing.T) {
			if !l.Unlimited() {
				t.Fatal("Unlimited() = false")
			}
			for i := range 10_000 {
				if ok, wait := l.Allow(t0); !ok || wait != 0 {
					t.Fatalf("request %d: Allow = %v, %v; want true, 0", i, ok, wait)
				}
			}
		})
	}
}

func TestBucket(t *testing.T) {
	type step struct {
		at       time.Duration // offset from t0
		ok       bool
		retryMin time.Duration // when !ok: retryAfter in [retryMin, retryMax]
		retryMax time.Duration
	}
	tests := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{
			name: "burst then refill at rate",
			cfg:  Config{RequestsPerSecond: 2, Burst: 3},
			steps: []step{
				{at: 0, ok: true}, {at: 0, ok: true}, {at: 0, ok: true},
				{at: 0, ok: false, retryMin: 500 * time.Millisecond, retryMax: 500 * time.Millisecond},
				{at: 250 * time.Millisecond, ok: false, retryMin: 250 * time.Millisecond, retryMax: 250 * time.Millisecond},
				{at: 500 * time.Millisecond, ok: true},
				{at: 500 * time.Millisecond, ok: false, retryMin: 500 * time.Millisecond, retryMax: 500 * time.Millisecond},
			},
		},
		{
			name: "long idle refills only up to burst",
			cfg:  Config{RequestsPerSecond: 1, Burst: 2},
			steps: []step{
				{at: 0, ok: true}, {at: 0, ok: true}, {at: 0, ok: false, retryMin: time.Second, retryMax: time.Second},
				{at: time.Hour, ok: true}, {at: time.Hour, ok: true},
				{at: time.Hour, ok: false, retryMin: time.Second, retryMax: time.Second},
			},
		},
		{
			name: "default burst is ceil(rate)",
			cfg:  Config{RequestsPerSecond: 2.5},
			steps: []step{
				{at: 0, ok: true}, {at: 0, ok: true}, {at: 0, ok: true},
				{at: 0, ok: false, retryMin: 400 * time.Millisecond, retryMax: 400 * time.Millisecond},
			},
		},
		{
			name: "slow rate gives a long retry-after",
			cfg:  Config{RequestsPerSecond: 0.1},
			steps: []step{
				{at: 0, ok: true},
				{at: time.Second, ok: false, retryMin: 9 * time.Second, retryMax: 9 * time.Second},
				{at: 10 * time.Second, ok: true},
			},
		},
		{
			name: "clock going backwards adds no tokens",
			cfg:  Config{RequestsPerSecond: 1, Burst: 1},
			steps: []step{
				{at: 10 * time.Second, ok: true},
				{at: 0, ok: false, retryMin: time.Second, retryMax: time.Second},
				{at: 10 * time.Second, ok: false, retryMin: time.Second, retryMax: time.Second},
				{at: 11 * time.Second, ok: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(tt.cfg)
			if l.Unlimited() {
				t.Fatal("limited config reported unlimited")
			}
			for i, s := range tt.steps {
				ok, wait := l.Allow(t0.Add(s.at))
				if ok != s.ok {
					t.Fatalf("step %d at %v: ok = %v, want %v", i, s.at, ok, s.ok)
				}
				if ok && wait != 0 {
					t.Fatalf("step %d: allowed with retryAfter %v", i, wait)
				}
				if !ok && (wait < s.retryMin || wait > s.retryMax) {
					t.Fatalf("step %d: retryAfter = %v, want in [%v, %v]", i, wait, s.retryMin, s.retryMax)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"zero", Config{}, false},
		{"rate only", Config{RequestsPerSecond: 5}, false},
		{"rate and burst", Config{RequestsPerSecond: 5, Burst: 20}, false},
		{"negative rate", Config{RequestsPerSecond: -1}, true},
		{"NaN rate", Config{RequestsPerSecond: math.NaN()}, true},
		{"infinite rate", Config{RequestsPerSecond: math.Inf(1)}, true},
		{"negative burst", Config{RequestsPerSecond: 1, Burst: -1}, true},
		{"burst without rate", Config{Burst: 3}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate() = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr && !New(tt.cfg).Unlimited() {
				t.Fatal("New with an invalid config must be unlimited (documented)")
			}
		})
	}
}

// TestConcurrentAllowNeverExceedsBurst: with the clock frozen, exactly Burst of many
// concurrent requests pass.
func TestConcurrentAllowNeverExceedsBurst(t *testing.T) {
	l := New(Config{RequestsPerSecond: 1, Burst: 50})
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed int
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if ok, _ := l.Allow(t0); ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if allowed != 50 {
		t.Fatalf("allowed %d of 800 concurrent requests, want exactly the burst of 50", allowed)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for _, tt := range []struct {
		in   time.Duration
		want int
	}{{0, 1}, {time.Nanosecond, 1}, {time.Second, 1}, {time.Second + 1, 2}, {9 * time.Second, 9}, {90 * time.Minute, 5400}} {
		if got := RetryAfterSeconds(tt.in); got != tt.want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
