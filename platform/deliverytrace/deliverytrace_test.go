package deliverytrace_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/deliverytrace"
)

const (
	storedTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	callTrace   = "0af7651916cd43dd8448eb211c80319c"
)

func request() *consumerv1.DeliverRequest {
	return &consumerv1.DeliverRequest{
		Event:        &eventv1.Event{Id: "e1", Source: "hasura", Type: "hasura.public.users.insert", Traceparent: "00-" + storedTrace + "-00f067aa0ba902b7-01"},
		Subscription: "email",
		Attempt:      2,
		Replay:       true,
	}
}

// callContext is what otelgrpc hands a handler: the caller's span context, and
// the metadata it came in when the call carried one.
func callContext(t *testing.T, withMetadata bool) context.Context {
	t.Helper()
	tid, _ := trace.TraceIDFromHex(callTrace)
	sid, _ := trace.SpanIDFromHex("b7ad6b7169203331")
	ctx := trace.ContextWithSpanContext(t.Context(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	if withMetadata {
		ctx = metadata.NewIncomingContext(ctx, metadata.Pairs("traceparent", "00-"+callTrace+"-b7ad6b7169203331-01"))
	}
	return ctx
}

func start(t *testing.T, ctx context.Context) sdktrace.ReadOnlySpan {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	_, span := deliverytrace.Start(ctx, tp.Tracer("test"), request())
	span.End()
	spans := exp.GetSpans().Snapshots()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	return spans[0]
}

func TestCallWithTraceIsContinued(t *testing.T) {
	s := start(t, callContext(t, true))
	if got := s.SpanContext().TraceID().String(); got != callTrace {
		t.Fatalf("span in trace %s, want the call's %s", got, callTrace)
	}
	if len(s.Links()) != 0 {
		t.Fatalf("links %v, want none", s.Links())
	}
	if s.Name() != "process email" || s.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("span %q kind %v, want \"process email\", consumer", s.Name(), s.SpanKind())
	}
	want := map[string]string{
		"hookmesh.event.source": "hasura", "hookmesh.event.id": "e1", "hookmesh.event.type": "hasura.public.users.insert",
		"hookmesh.subscription": "email", "hookmesh.attempt": "2", "hookmesh.replay": "true",
		"messaging.system": "nats", "messaging.operation.type": "process", "messaging.operation.name": "process",
		"messaging.destination.name": "email", "messaging.message.id": "e1", "messaging.consumer.group.name": "email",
	}
	got := map[string]string{}
	for _, kv := range s.Attributes() {
		got[string(kv.Key)] = kv.Value.String()
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, got[k], v)
		}
	}
}

func TestCallWithoutTraceContinuesTheStoredOne(t *testing.T) {
	s := start(t, callContext(t, false))
	if got := s.SpanContext().TraceID().String(); got != storedTrace {
		t.Fatalf("span in trace %s, want the event's %s", got, storedTrace)
	}
	if len(s.Links()) != 1 || s.Links()[0].SpanContext.TraceID().String() != callTrace {
		t.Fatalf("links %v, want one to the call's span", s.Links())
	}
}

func TestEventWithoutStoredTrace(t *testing.T) {
	req := request()
	req.Event.Traceparent = ""
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	_, span := deliverytrace.Start(callContext(t, false), tp.Tracer("test"), req)
	span.End()
	s := exp.GetSpans().Snapshots()[0]
	if got := s.SpanContext().TraceID().String(); got != callTrace || len(s.Links()) != 0 {
		t.Fatalf("span in trace %s with links %v, want the call's trace and no link", got, s.Links())
	}
}
