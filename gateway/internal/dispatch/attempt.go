package dispatch

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/spanattr"
)

// attempt makes one Deliver call in a span that is a child of the event's stored
// trace context (or, for a replay, a new trace linked to it). The connection's
// otelgrpc handler puts the trace context into the call's metadata. The caller
// ends the span once the attempt is settled.
func (w *worker) attempt(j *job) (attempt, *status.Status, trace.Span) {
	ctx, span := w.startSpan(w.runCtx, j)
	start := w.d.now()
	st, dur := w.deliver(ctx, j)
	w.observeAttempt(span, st, dur)
	traceID := ""
	if sc := span.SpanContext(); sc.HasTraceID() {
		traceID = sc.TraceID().String()
	}
	return attempt{
		Number:   j.attempt,
		Cycle:    j.cycle,
		Start:    start,
		Duration: dur,
		Code:     codeName(st.Code()),
		Message:  st.Message(),
		Replay:   j.replay,
		TraceID:  traceID,
	}, st, span
}

// deliver calls the consumer once. Our own shutdown's cancellation is CANCELLED
// whatever the call's error says.
func (w *worker) deliver(ctx context.Context, j *job) (*status.Status, time.Duration) {
	w.mx.inFlight.Inc()
	t0 := time.Now()
	err := w.call(ctx, &consumerv1.DeliverRequest{
		Event:        j.ev,
		Subscription: w.sub.Name,
		Attempt:      j.attempt,
		Replay:       j.replay,
	})
	dur := time.Since(t0)
	w.mx.inFlight.Dec()
	st := status.Convert(err)
	if err != nil && errors.Is(err, context.Canceled) && w.runCtx.Err() != nil {
		st = status.New(codes.Canceled, "dispatcher shutting down")
	}
	return st, dur
}

// observeAttempt records the attempt's duration by code and its code on the span.
func (w *worker) observeAttempt(span trace.Span, st *status.Status, dur time.Duration) {
	if st.Code() == codes.OK {
		w.mx.attemptOK.Observe(dur.Seconds())
	} else {
		w.d.m.attempt.WithLabelValues(w.sub.Name, st.Code().String()).Observe(dur.Seconds())
	}
	span.SetAttributes(attribute.String("rpc.grpc.status_code", st.Code().String()))
	if Classify(st.Code()) != Done {
		span.SetStatus(otelcodes.Error, st.Code().String())
	}
}

// storedContext is the trace context stored with ev (invalid when none).
func (w *worker) storedContext(ev *eventv1.Event) trace.SpanContext {
	if ev.GetTraceparent() == "" {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(w.d.cfg.Propagator.Extract(context.Background(), propagation.MapCarrier{
		"traceparent": ev.GetTraceparent(),
		"tracestate":  ev.GetTracestate(),
	}))
}

// deliverySpanName is the name of a subscription's delivery spans, the
// messaging conventions' "send <destination>".
func deliverySpanName(sub string) string { return spanattr.DeliverySpanName(spanattr.OpSend, sub) }

// startSpan starts the attempt's span, a client span of the messaging
// conventions' send operation (the Deliver call's otelgrpc span is its child).
func (w *worker) startSpan(ctx context.Context, j *job) (context.Context, trace.Span) {
	sc := j.stored
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}
	if j.replay {
		// A replay is a new trace linked to the original (Promise 5).
		opts = append(opts, trace.WithNewRoot())
		if sc.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
		}
	} else if sc.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	ctx, span := w.d.tracer.Start(ctx, w.spanName, opts...)
	if span.IsRecording() {
		span.SetAttributes(spanattr.DeliveryMessaging(spanattr.OpSend, w.sub.Name, j.ev.GetId())...)
		span.SetAttributes(spanattr.EventAttributes(j.ev.GetSource(), j.ev.GetId(), j.ev.GetType())...)
		span.SetAttributes(
			spanattr.KeySubscription.String(w.sub.Name),
			spanattr.KeyAttempt.Int(int(j.attempt)),
			spanattr.KeyReplay.Bool(j.replay),
		)
	}
	return ctx, span
}

// codeName is the gRPC code's canonical name (google.rpc.Code), e.g.
// "UNAVAILABLE"; "" for a code outside it.
func codeName(c codes.Code) string {
	if c > codes.Unauthenticated {
		return ""
	}
	return code.Code(c).String()
}
