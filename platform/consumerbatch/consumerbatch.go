// Package consumerbatch answers hookmesh.consumer.v1.EventConsumerService/DeliverBatch
// with a service's own Deliver: every event of the batch is delivered by its own
// concurrent Deliver call, in its own trace context (BatchDelivery.traceparent, as
// if the dispatcher had called Deliver with that metadata), and Deliver's status
// becomes the event's DeliveryStatus. Run concurrently, the calls reach the
// service's group committer together and share its transactions (a savepoint each),
// so a batch costs about one commit and one bad event fails only itself.
package consumerbatch

import (
	"context"
	"errors"
	"sync"

	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
)

// MaxEvents is the most events one call may carry; a larger batch is refused
// INVALID_ARGUMENT as a whole (the dispatcher's batches are far smaller).
const MaxEvents = 1024

// DeliverFunc is a service's Deliver.
type DeliverFunc func(ctx context.Context, req *consumerv1.DeliverRequest) (*consumerv1.DeliverResponse, error)

// Deliver runs each event of req through deliver and returns their statuses in
// order. A Deliver error that is not a gRPC status counts as UNKNOWN (retried),
// like the gRPC server would answer it.
func Deliver(ctx context.Context, req *consumerv1.DeliverBatchRequest, deliver DeliverFunc) (*consumerv1.DeliverBatchResponse, error) {
	ds := req.GetDeliveries()
	if len(ds) > MaxEvents {
		return nil, status.Errorf(codes.InvalidArgument, "batch of %d events: at most %d", len(ds), MaxEvents)
	}
	out := make([]*consumerv1.DeliveryStatus, len(ds))
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Go(func() {
			one := &consumerv1.DeliverRequest{Event: d.GetEvent(), Subscription: req.GetSubscription(), Attempt: d.GetAttempt(), Replay: d.GetReplay()}
			_, err := deliver(eventContext(ctx, d), one)
			out[i] = ToStatus(err)
		})
	}
	wg.Wait()
	return &consumerv1.DeliverBatchResponse{Statuses: out}, nil
}

// eventContext is ctx with the event's own trace context in the incoming metadata
// (where otelgrpc would have put a single Deliver's), replacing the batch call's.
func eventContext(ctx context.Context, d *consumerv1.BatchDelivery) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	md = md.Copy()
	for _, k := range []string{"traceparent", "tracestate", "b3", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-parentspanid", "x-b3-flags"} {
		md.Delete(k)
	}
	if tp := d.GetTraceparent(); tp != "" {
		md.Set("traceparent", tp)
		if ts := d.GetTracestate(); ts != "" {
			md.Set("tracestate", ts)
		}
	}
	ctx = metadata.NewIncomingContext(ctx, md)
	return withTrace(ctx, d.GetTraceparent(), d.GetTracestate())
}

// ToStatus is the DeliveryStatus Deliver's err would have been on the wire.
func ToStatus(err error) *consumerv1.DeliveryStatus {
	if err == nil {
		return &consumerv1.DeliveryStatus{Code: int32(codes.OK)}
	}
	st, ok := status.FromError(err)
	if !ok {
		if errors.Is(err, context.DeadlineExceeded) {
			st = status.New(codes.DeadlineExceeded, err.Error())
		} else if errors.Is(err, context.Canceled) {
			st = status.New(codes.Canceled, err.Error())
		}
	}
	ds := &consumerv1.DeliveryStatus{Code: int32(st.Code()), Message: st.Message()}
	for _, det := range st.Details() {
		if ri, ok := det.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			ds.RetryDelay = durationpb.New(ri.GetRetryDelay().AsDuration())
		}
	}
	return ds
}

// withTrace makes the event's delivery span the parent of what ctx starts; without
// one, ctx keeps the batch call's span (the service then links it and continues the
// event's stored trace, as for a Deliver without trace metadata).
func withTrace(ctx context.Context, traceparent, tracestate string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent, "tracestate": tracestate})
}
