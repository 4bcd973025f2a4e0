package consumerbatch_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/consumerbatch"
)

func traceparent(i int) string {
	return fmt.Sprintf("00-%032x-%016x-01", i+1, i+100)
}

func TestDeliver(t *testing.T) {
	retry, _ := status.New(codes.Unavailable, "later").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(3 * time.Second)})
	outcomes := map[string]error{
		"ok":      nil,
		"seen":    status.Error(codes.AlreadyExists, "seen"),
		"bad":     status.Error(codes.InvalidArgument, "bad"),
		"later":   retry.Err(),
		"plain":   errors.New("not a status"),
		"timeout": fmt.Errorf("wrapped: %w", context.DeadlineExceeded),
	}
	order := []string{"ok", "seen", "bad", "later", "plain", "timeout", "untraced"}
	req := &consumerv1.DeliverBatchRequest{Subscription: "sub"}
	for i, id := range order {
		d := &consumerv1.BatchDelivery{Event: &eventv1.Event{Id: id, Source: "s"}, Attempt: int32(i + 1), Replay: i == 2}
		if id != "untraced" {
			d.Traceparent = traceparent(i)
		}
		req.Deliveries = append(req.Deliveries, d)
	}
	// The batch call's own metadata and trace must not leak into the events'.
	batchTrace := "00-ffffffffffffffffffffffffffffffff-00000000000000ff-01"
	ctx := metadata.NewIncomingContext(t.Context(), metadata.Pairs("traceparent", batchTrace, "authorization", "Bearer x"))

	var mu sync.Mutex
	seen := map[string]*consumerv1.DeliverRequest{}
	traces := map[string]trace.SpanContext{}
	mds := map[string]metadata.MD{}
	resp, err := consumerbatch.Deliver(ctx, req, func(ctx context.Context, r *consumerv1.DeliverRequest) (*consumerv1.DeliverResponse, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		mu.Lock()
		seen[r.GetEvent().GetId()] = r
		traces[r.GetEvent().GetId()] = trace.SpanContextFromContext(ctx)
		mds[r.GetEvent().GetId()] = md
		mu.Unlock()
		if id := r.GetEvent().GetId(); id != "untraced" {
			return nil, outcomes[id]
		}
		return &consumerv1.DeliverResponse{}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []codes.Code{codes.OK, codes.AlreadyExists, codes.InvalidArgument, codes.Unavailable, codes.Unknown, codes.DeadlineExceeded, codes.OK}
	if len(resp.GetStatuses()) != len(want) {
		t.Fatalf("%d statuses for %d events", len(resp.GetStatuses()), len(want))
	}
	for i, st := range resp.GetStatuses() {
		if codes.Code(st.GetCode()) != want[i] {
			t.Errorf("event %s: code %v, want %v", order[i], codes.Code(st.GetCode()), want[i])
		}
	}
	if d := resp.GetStatuses()[3].GetRetryDelay().AsDuration(); d != 3*time.Second {
		t.Errorf("retry delay %v, want 3s from RetryInfo", d)
	}
	for i, id := range order {
		r := seen[id]
		if r.GetSubscription() != "sub" || r.GetAttempt() != int32(i+1) || r.GetReplay() != (i == 2) {
			t.Errorf("event %s delivered as %v", id, r)
		}
		if got := mds[id].Get("authorization"); len(got) != 1 {
			t.Errorf("event %s lost the call's other metadata: %v", id, mds[id])
		}
		tp := mds[id].Get("traceparent")
		if id == "untraced" {
			if len(tp) != 0 {
				t.Errorf("untraced event got traceparent %v (the batch's own?)", tp)
			}
			continue
		}
		if len(tp) != 1 || tp[0] != traceparent(i) {
			t.Errorf("event %s: metadata traceparent %v, want its own", id, tp)
		}
		if sc := traces[id]; !sc.IsRemote() || sc.TraceID().String() != fmt.Sprintf("%032x", i+1) {
			t.Errorf("event %s: span context %v, want its own remote parent", id, sc)
		}
	}
}

func TestDeliverTooLarge(t *testing.T) {
	req := &consumerv1.DeliverBatchRequest{Deliveries: make([]*consumerv1.BatchDelivery, consumerbatch.MaxEvents+1)}
	_, err := consumerbatch.Deliver(t.Context(), req, func(context.Context, *consumerv1.DeliverRequest) (*consumerv1.DeliverResponse, error) {
		t.Fatal("delivered an event of an oversized batch")
		return nil, nil
	})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("oversized batch: %v, want INVALID_ARGUMENT", err)
	}
}
