package dispatch

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		code codes.Code
		want Outcome
	}{
		{codes.OK, Done},
		{codes.AlreadyExists, Done},
		{codes.Unavailable, Retry},
		{codes.DeadlineExceeded, Retry},
		{codes.ResourceExhausted, Retry},
		{codes.Aborted, Retry},
		{codes.Internal, Retry},
		{codes.Unknown, Retry},
		{codes.Canceled, Retry},
		{codes.Unauthenticated, Retry},
		{codes.InvalidArgument, Dead},
		{codes.FailedPrecondition, Dead},
		{codes.PermissionDenied, Dead},
		{codes.NotFound, Dead},
		{codes.OutOfRange, Dead},
		{codes.Unimplemented, Dead},
		{codes.DataLoss, Dead},
		{codes.Code(99), Retry},
	}
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			if got := Classify(tt.code); got != tt.want {
				t.Errorf("Classify(%s) = %s, want %s", tt.code, got, tt.want)
			}
		})
	}
}

// TestClassificationEndToEnd has a real consumer answer each code and checks what
// the dispatcher made of it: state, attempts and dead-letter reason.
func TestClassificationEndToEnd(t *testing.T) {
	e := newEnv(t)
	c := &testConsumer{fx: newEffects()}
	c.behave = func(_ context.Context, req *consumerv1.DeliverRequest) error {
		name, _, _ := strings.Cut(req.GetEvent().GetId(), "-")
		for code := codes.OK; code <= codes.Unauthenticated; code++ {
			if codeName(code) == name && code != codes.OK {
				return status.Error(code, "answer "+name)
			}
		}
		return nil
	}
	addr, _ := serve(t, c, "127.0.0.1:0")
	s := sub("codes", addr, "test.*")
	s.Retry = RetryPolicy{Policy: PolicyFixed, NumRetries: 1, Interval: 10 * time.Millisecond}
	d := e.start(e.config(s))

	type want struct {
		state    adminv1.DeliveryState
		attempts int
		reason   string
	}
	retry := want{adminv1.DeliveryState_DELIVERY_STATE_DEAD, 2, "exhausted"}
	tests := map[codes.Code]want{
		codes.OK:                 {adminv1.DeliveryState_DELIVERY_STATE_DELIVERED, 1, ""},
		codes.AlreadyExists:      {adminv1.DeliveryState_DELIVERY_STATE_DELIVERED, 1, ""},
		codes.Unavailable:        retry,
		codes.DeadlineExceeded:   retry,
		codes.ResourceExhausted:  retry,
		codes.Aborted:            retry,
		codes.Internal:           retry,
		codes.Unknown:            retry,
		codes.Canceled:           retry,
		codes.Unauthenticated:    retry,
		codes.InvalidArgument:    {adminv1.DeliveryState_DELIVERY_STATE_DEAD, 1, "terminal: INVALID_ARGUMENT"},
		codes.FailedPrecondition: {adminv1.DeliveryState_DELIVERY_STATE_DEAD, 1, "terminal: FAILED_PRECONDITION"},
		codes.PermissionDenied:   {adminv1.DeliveryState_DELIVERY_STATE_DEAD, 1, "terminal: PERMISSION_DENIED"},
		codes.NotFound:           {adminv1.DeliveryState_DELIVERY_STATE_DEAD, 1, "terminal: NOT_FOUND"},
		codes.OutOfRange:         {adminv1.DeliveryState_DELIVERY_STATE_DEAD, 1, "terminal: OUT_OF_RANGE"},
		codes.Unimplemented:      {adminv1.DeliveryState_DELIVERY_STATE_DEAD, 1, "terminal: UNIMPLEMENTED"},
		codes.DataLoss:           {adminv1.DeliveryState_DELIVERY_STATE_DEAD, 1, "terminal: DATA_LOSS"},
	}
	for code := range tests {
		e.append(event(codeName(code)+"-1", "test.code"))
	}
	for code, w := range tests {
		t.Run(codeName(code), func(t *testing.T) {
			ev := event(codeName(code)+"-1", "test.code")
			dl := waitState(t, d, ev, "codes", w.state)
			if got := len(dl.GetAttempts()); got != w.attempts {
				t.Fatalf("attempts = %d, want %d", got, w.attempts)
			}
			for i, a := range dl.GetAttempts() {
				if a.GetNumber() != int32(i+1) {
					t.Errorf("attempt %d numbered %d", i+1, a.GetNumber())
				}
				wantCode := codeName(code)
				if a.GetCode() != wantCode {
					t.Errorf("attempt %d code = %s, want %s", i+1, a.GetCode(), wantCode)
				}
			}
			if w.reason == "" {
				return
			}
			dls, _, err := d.ListDeadLetters(ctxT(t), DeadLetterQuery{Subscription: "codes", Type: "test.*"})
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range dls {
				if x.GetEvent().GetId() == ev.GetId() {
					if x.GetReason() != w.reason || len(x.GetAttempts()) != w.attempts {
						t.Fatalf("dead letter reason %q attempts %d, want %q %d", x.GetReason(), len(x.GetAttempts()), w.reason, w.attempts)
					}
					return
				}
			}
			t.Fatalf("no dead letter for %s", ev.GetId())
		})
	}
	// The consumer saw the attempt number and the subscription in every call.
	for _, cl := range c.callsFor(codeName(codes.Unavailable) + "-1") {
		if cl.req.GetSubscription() != "codes" || cl.req.GetAttempt() < 1 || cl.req.GetReplay() {
			t.Errorf("request = %v", cl.req)
		}
		if cl.deadline.IsZero() {
			t.Error("call without deadline")
		}
	}
}

// TestFilterTransition: a CEL filter fires on the transition to completed only.
func TestFilterTransition(t *testing.T) {
	e := newEnv(t)
	c := &testConsumer{fx: newEffects()}
	addr, _ := serve(t, c, "127.0.0.1:0")
	s := sub("orders", addr, "hasura.public.orders.*")
	s.Filter = `event.hasura_table.old.status != event.hasura_table.new.status && event.hasura_table.new.status == "completed"`
	d := e.start(e.config(s))

	completed := orderEvent("o-1", "pending", "completed")
	again := orderEvent("o-2", "completed", "completed")
	insert := orderEvent("o-3", "", "completed") // no old row: the filter errors
	for _, ev := range []*eventv1.Event{completed, again, insert} {
		e.append(ev)
	}
	waitState(t, d, completed, "orders", adminv1.DeliveryState_DELIVERY_STATE_DELIVERED)
	waitState(t, d, again, "orders", adminv1.DeliveryState_DELIVERY_STATE_FILTERED)
	waitState(t, d, insert, "orders", adminv1.DeliveryState_DELIVERY_STATE_FILTERED)
	if n := len(c.callsFor("o-2")) + len(c.callsFor("o-3")); n != 0 {
		t.Fatalf("filtered events were delivered %d times", n)
	}
	if c.fx.count("hasura", "o-1") != 1 {
		t.Fatal("completed order not applied once")
	}
}
