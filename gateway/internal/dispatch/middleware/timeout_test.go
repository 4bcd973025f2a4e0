package middleware

import (
	"context"
	"testing"
	"time"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
)

func TestTimeout(t *testing.T) {
	tests := []struct {
		name   string
		parent time.Duration // 0: no parent deadline
		d      time.Duration
		want   time.Duration // the deadline the handler sees, from now
	}{
		{"sets a deadline", 0, time.Minute, time.Minute},
		{"keeps an earlier parent deadline", time.Second, time.Minute, time.Second},
		{"shortens a later parent deadline", time.Hour, time.Minute, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if tt.parent > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.parent)
				defer cancel()
			}
			var got time.Time
			start := time.Now()
			h := Timeout(tt.d)(func(ctx context.Context, _ *consumerv1.DeliverRequest) error {
				got, _ = ctx.Deadline()
				return nil
			})
			if err := h(ctx, &consumerv1.DeliverRequest{}); err != nil {
				t.Fatal(err)
			}
			if left := got.Sub(start); left > tt.want+time.Second || left < tt.want-5*time.Second {
				t.Fatalf("deadline in %s, want about %s", left, tt.want)
			}
		})
	}
}

func TestTimeoutCancelsAfterward(t *testing.T) {
	var inner context.Context
	h := Timeout(time.Hour)(func(ctx context.Context, _ *consumerv1.DeliverRequest) error {
		inner = ctx
		return nil
	})
	_ = h(t.Context(), &consumerv1.DeliverRequest{})
	if inner.Err() == nil {
		t.Fatal("attempt context still live after the attempt")
	}
}
