// Package deliverytrace starts a service's span for one EventConsumerService
// delivery, so that every service traces its work the same way: a child of the
// call's span, or, when the call carried no trace context, a child of the trace
// stored with the event (linked to the call's span): one trace per event
// (DESIGN.md Promise 5) even for a caller that does not propagate.
package deliverytrace

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	"github.com/hookmesh/hookmesh/platform/spanattr"
)

// Start starts the processing span of req, a consumer span of the messaging
// conventions named "process <subscription>" ("process" when the request names
// none), with the messaging attributes and the event's identity, subscription,
// attempt and replay flag.
func Start(ctx context.Context, tracer trace.Tracer, req *consumerv1.DeliverRequest) (context.Context, trace.Span) {
	ev := req.GetEvent()
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}
	if ev.GetTraceparent() != "" && !carriesTrace(ctx) {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: trace.SpanContextFromContext(ctx)}))
		// The stored context is a W3C traceparent whatever the sender used.
		ctx = propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": ev.GetTraceparent(), "tracestate": ev.GetTracestate()})
	}
	sub := req.GetSubscription()
	opts = append(opts,
		trace.WithAttributes(spanattr.DeliveryMessaging(spanattr.OpProcess, sub, ev.GetId())...),
		trace.WithAttributes(spanattr.EventAttributes(ev.GetSource(), ev.GetId(), ev.GetType())...),
		trace.WithAttributes(
			spanattr.KeySubscription.String(sub),
			spanattr.KeyAttempt.Int(int(req.GetAttempt())),
			spanattr.KeyReplay.Bool(req.GetReplay()),
		))
	name := spanattr.OpProcess
	if sub != "" {
		name = spanattr.DeliverySpanName(spanattr.OpProcess, sub)
	}
	return tracer.Start(ctx, name, opts...)
}

// carriesTrace reports whether the incoming call had trace context (W3C or B3).
func carriesTrace(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	return len(md.Get("traceparent")) > 0 || len(md.Get("b3")) > 0 || len(md.Get("x-b3-traceid")) > 0
}
