package dispatch

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
)

func TestRetryPolicySchedule(t *testing.T) {
	fixed := RetryPolicy{Policy: PolicyFixed, NumRetries: 3, Interval: 10 * time.Second}
	exp := RetryPolicy{Policy: PolicyExponential, MaxAttempts: 6, Initial: time.Second, Max: 5 * time.Second}
	d := func(v time.Duration) *time.Duration { return &v }
	tests := []struct {
		name      string
		p         RetryPolicy
		failed    int
		rnd       float64
		hint      *time.Duration
		wantDelay time.Duration
		wantAgain bool
	}{
		{"fixed first retry", fixed, 1, 0.5, nil, 10 * time.Second, true},
		{"fixed last retry", fixed, 3, 0.5, nil, 10 * time.Second, true},
		{"fixed hasura bound num_retries+1", fixed, 4, 0.5, nil, 0, false},
		{"fixed zero retries is one attempt", RetryPolicy{Policy: PolicyFixed, Interval: time.Second}, 1, 0.5, nil, 0, false},
		{"exp full jitter upper", exp, 1, 0.999999, nil, 999999 * time.Microsecond, true},
		{"exp full jitter lower", exp, 1, 0, nil, 0, true},
		{"exp doubles", exp, 2, 0.5, nil, time.Second, true},
		{"exp doubles again", exp, 3, 0.5, nil, 2 * time.Second, true},
		{"exp capped at max", exp, 5, 0.5, nil, 2500 * time.Millisecond, true},
		{"exp bound", exp, 6, 0.5, nil, 0, false},
		{"retryinfo shortens", exp, 1, 0.5, d(100 * time.Millisecond), 100 * time.Millisecond, true},
		{"retryinfo capped at max", exp, 1, 0.5, d(time.Hour), 5 * time.Second, true},
		{"retryinfo never extends the bound", exp, 6, 0.5, d(time.Millisecond), 0, false},
		{"retryinfo on fixed capped at interval", fixed, 1, 0.5, d(time.Minute), 10 * time.Second, true},
		{"retryinfo negative is now", fixed, 1, 0.5, d(-time.Second), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			delay, again := tt.p.next(tt.failed, tt.rnd, tt.hint)
			if delay != tt.wantDelay || again != tt.wantAgain {
				t.Fatalf("next(%d) = %s, %v; want %s, %v", tt.failed, delay, again, tt.wantDelay, tt.wantAgain)
			}
		})
	}
}

func TestRetryPolicyAttempts(t *testing.T) {
	if n := (RetryPolicy{Policy: PolicyFixed, NumRetries: 3}).Attempts(); n != 4 {
		t.Errorf("fixed attempts = %d, want 4 (Hasura: num_retries+1)", n)
	}
	if n := (RetryPolicy{Policy: PolicyExponential, MaxAttempts: 8}).Attempts(); n != 8 {
		t.Errorf("exponential attempts = %d, want 8", n)
	}
}

// gaps returns the recorded time between consecutive attempts' starts.
func gaps(dl *adminv1.Delivery) []time.Duration {
	var out []time.Duration
	as := dl.GetAttempts()
	for i := 1; i < len(as); i++ {
		prevEnd := as[i-1].GetStartTime().AsTime().Add(as[i-1].GetDuration().AsDuration())
		out = append(out, as[i].GetStartTime().AsTime().Sub(prevEnd))
	}
	return out
}

// TestRetryScheduleHonoured runs real retries through the retry stream and checks
// from the recorded attempts that no attempt came before its delay, that the bound
// holds, and that RetryInfo sets the delay without extending the bound.
func TestRetryScheduleHonoured(t *testing.T) {
	e := newEnv(t)
	unavailable := &testConsumer{fx: newEffects()}
	unavailable.behave = func(context.Context, *consumerv1.DeliverRequest) error {
		return status.Error(codes.Unavailable, "down")
	}
	addr, _ := serve(t, unavailable, "127.0.0.1:0")
	hinted := func(delay time.Duration) *testConsumer {
		c := &testConsumer{fx: newEffects()}
		c.behave = func(context.Context, *consumerv1.DeliverRequest) error {
			st, err := status.New(codes.ResourceExhausted, "slow down").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(delay)})
			if err != nil {
				return err
			}
			return st.Err()
		}
		return c
	}
	shortHint := hinted(20 * time.Millisecond)
	shortAddr, _ := serve(t, shortHint, "127.0.0.1:0")
	longHint := hinted(time.Hour)
	longAddr, _ := serve(t, longHint, "127.0.0.1:0")

	fixed := sub("fixed", addr, "retry.fixed")
	fixed.Retry = RetryPolicy{Policy: PolicyFixed, NumRetries: 2, Interval: 200 * time.Millisecond}
	exp := sub("exp", addr, "retry.exp")
	exp.Retry = RetryPolicy{Policy: PolicyExponential, MaxAttempts: 4, Initial: 100 * time.Millisecond, Max: 250 * time.Millisecond}
	// A fixed interval far longer than the test: only RetryInfo can make it finish.
	short := sub("short", shortAddr, "retry.short")
	short.Retry = RetryPolicy{Policy: PolicyFixed, NumRetries: 2, Interval: time.Hour}
	// RetryInfo asks for an hour; the policy's max (300ms) caps it.
	long := sub("long", longAddr, "retry.long")
	long.Retry = RetryPolicy{Policy: PolicyExponential, MaxAttempts: 3, Initial: 300 * time.Millisecond, Max: 300 * time.Millisecond}

	cfg := e.config(fixed, exp, short, long)
	cfg.Rand = func() float64 { return 0.999 } // jitter at its top: delays are the caps
	d := e.start(cfg)

	evs := map[string]string{"fixed": "retry.fixed", "exp": "retry.exp", "short": "retry.short", "long": "retry.long"}
	for name, typ := range evs {
		e.append(event("r-"+name, typ))
	}
	tests := []struct {
		sub      string
		attempts int
		minGaps  []time.Duration
	}{
		{"fixed", 3, []time.Duration{200 * time.Millisecond, 200 * time.Millisecond}},
		{"exp", 4, []time.Duration{99 * time.Millisecond, 199 * time.Millisecond, 249 * time.Millisecond}},
		{"short", 3, []time.Duration{20 * time.Millisecond, 20 * time.Millisecond}},
		{"long", 3, []time.Duration{300 * time.Millisecond, 300 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.sub, func(t *testing.T) {
			ev := event("r-"+tt.sub, evs[tt.sub])
			dl := waitState(t, d, ev, tt.sub, adminv1.DeliveryState_DELIVERY_STATE_DEAD)
			if len(dl.GetAttempts()) != tt.attempts {
				t.Fatalf("attempts = %d, want %d", len(dl.GetAttempts()), tt.attempts)
			}
			for i, g := range gaps(dl) {
				if g < tt.minGaps[i] {
					t.Errorf("attempt %d came %s after the previous one ended, before its delay %s", i+2, g, tt.minGaps[i])
				}
			}
			// Parked retries, NAKed by us until due, are not redeliveries.
			if n := testutil.ToFloat64(d.m.redeliveries.WithLabelValues(tt.sub)); n != 0 {
				t.Errorf("redeliveries = %v, want 0", n)
			}
		})
	}
}

// TestRetryingStateShowsNextAttempt: while retrying, the state says when the
// next attempt is due, and the consumer's RetryInfo set that time.
func TestRetryingStateShowsNextAttempt(t *testing.T) {
	e := newEnv(t)
	c := &testConsumer{fx: newEffects()}
	c.behave = func(context.Context, *consumerv1.DeliverRequest) error {
		st, _ := status.New(codes.Unavailable, "later").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(30 * time.Minute)})
		return st.Err()
	}
	addr, _ := serve(t, c, "127.0.0.1:0")
	s := sub("later", addr, "test.*")
	s.Retry = RetryPolicy{Policy: PolicyExponential, MaxAttempts: 5, Initial: time.Second, Max: time.Hour}
	d := e.start(e.config(s))
	ev := event("later-1", "test.x")
	e.append(ev)
	dl := waitState(t, d, ev, "later", adminv1.DeliveryState_DELIVERY_STATE_RETRYING)
	a := dl.GetAttempts()[0]
	next := dl.GetNextAttemptTime().AsTime()
	end := a.GetStartTime().AsTime().Add(a.GetDuration().AsDuration())
	if got := next.Sub(end); got < 29*time.Minute || got > 31*time.Minute {
		t.Fatalf("next attempt in %s after the failure, want the RetryInfo's 30m", got)
	}
	if a.GetCode() != "UNAVAILABLE" || a.GetMessage() != "later" {
		t.Fatalf("attempt = %v", a)
	}
}
