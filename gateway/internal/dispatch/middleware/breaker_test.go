package middleware

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
)

func TestBreaker(t *testing.T) {
	now := time.Unix(0, 0)
	fail := status.Error(codes.Unavailable, "down")
	terminal := status.Error(codes.InvalidArgument, "bad")
	var next error
	calls := 0
	h := Breaker(BreakerConfig{
		Failures: 2,
		Cooldown: time.Minute,
		Counts:   func(err error) bool { return status.Code(err) == codes.Unavailable },
		Now:      func() time.Time { return now },
	})(func(context.Context, *consumerv1.DeliverRequest) error {
		calls++
		return next
	})
	call := func() error { return h(t.Context(), &consumerv1.DeliverRequest{}) }

	steps := []struct {
		name      string
		advance   time.Duration
		next      error
		wantErr   error
		wantCalls int
	}{
		{"closed passes", 0, nil, nil, 1},
		{"uncounted failure", 0, terminal, terminal, 2},
		{"first counted failure", 0, fail, fail, 3},
		{"second opens", 0, fail, fail, 4},
		{"open fails fast", 0, nil, ErrOpen, 4},
		{"still open before cooldown", 59 * time.Second, nil, ErrOpen, 4},
		{"half-open trial fails", 2 * time.Second, fail, fail, 5},
		{"open again", 0, nil, ErrOpen, 5},
		{"trial succeeds", time.Minute, nil, nil, 6},
		{"closed again", 0, nil, nil, 7},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		next = s.next
		err := call()
		if !errors.Is(err, s.wantErr) && status.Code(err) != status.Code(s.wantErr) || (err == nil) != (s.wantErr == nil) {
			t.Fatalf("%s: err = %v, want %v", s.name, err, s.wantErr)
		}
		if calls != s.wantCalls {
			t.Fatalf("%s: calls = %d, want %d", s.name, calls, s.wantCalls)
		}
	}
	if status.Code(ErrOpen) != codes.Unavailable {
		t.Fatal("an open breaker must read as UNAVAILABLE (a retry)")
	}
}

func TestChainOrder(t *testing.T) {
	var order []string
	mw := func(name string) Middleware {
		return func(next Handler) Handler {
			return func(ctx context.Context, req *consumerv1.DeliverRequest) error {
				order = append(order, name)
				return next(ctx, req)
			}
		}
	}
	h := Chain(func(context.Context, *consumerv1.DeliverRequest) error { order = append(order, "handler"); return nil }, mw("outer"), mw("inner"))
	_ = h(t.Context(), &consumerv1.DeliverRequest{})
	if len(order) != 3 || order[0] != "outer" || order[1] != "inner" || order[2] != "handler" {
		t.Fatalf("order = %v", order)
	}
}
