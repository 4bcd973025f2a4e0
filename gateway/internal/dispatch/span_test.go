package dispatch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	"github.com/hookmesh/hookmesh/platform/eventually"
	"github.com/hookmesh/hookmesh/platform/logging"
)

// Each attempt is its own client span ("send <subscription>", with the messaging
// conventions' attributes), a child of the stored context, carrying its number
// and how it was settled; a dead letter is marked on the span; the
// settling logs carry the attempt span's ids; subscription health is exported.
func TestAttemptSpans(t *testing.T) {
	e := newEnv(t)
	c := &testConsumer{fx: newEffects()}
	c.behave = func(_ context.Context, req *consumerv1.DeliverRequest) error {
		switch {
		case strings.HasPrefix(req.GetEvent().GetId(), "flaky") && req.GetAttempt() == 1:
			return status.Error(codes.Unavailable, "warming up")
		case strings.HasPrefix(req.GetEvent().GetId(), "bad"):
			return status.Error(codes.InvalidArgument, "never")
		}
		return nil
	}
	addr, _ := serve(t, c, "127.0.0.1:0")
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	var logs logging.Capture
	reg := prometheus.NewRegistry()
	cfg := e.config(sub("svc", addr, "s.*"))
	cfg.TracerProvider = tp
	cfg.Registerer = reg
	cfg.Logger = logging.New(&logs, "gateway")
	d := e.start(cfg)

	parentCtx, parent := tp.Tracer("test").Start(t.Context(), "ingest")
	parent.End()
	stored := parentCtx
	tpOf := func() string {
		sc := trace.SpanContextFromContext(stored)
		return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"
	}
	flaky, bad := event("flaky-1", "s.x"), event("bad-1", "s.x")
	flaky.Traceparent, bad.Traceparent = tpOf(), tpOf()
	e.append(flaky)
	waitState(t, d, flaky, "svc", adminv1.DeliveryState_DELIVERY_STATE_DELIVERED)
	e.append(bad) // last, so that the subscription's last outcome is a dead letter
	waitState(t, d, bad, "svc", adminv1.DeliveryState_DELIVERY_STATE_DEAD)

	type seen struct {
		span  sdktrace.ReadOnlySpan
		attrs map[string]string
	}
	var flakySpans []seen
	var badSpan *seen
	// Spans end after the state is written: wait for them.
	eventually.True(t, 10*time.Second, "attempt spans", func() bool {
		flakySpans, badSpan = nil, nil
		for _, s := range exp.GetSpans().Snapshots() {
			if s.Name() != "send svc" {
				continue
			}
			attrs := map[string]string{}
			for _, kv := range s.Attributes() {
				attrs[string(kv.Key)] = kv.Value.String()
			}
			switch attrs["hookmesh.event.id"] {
			case "flaky-1":
				flakySpans = append(flakySpans, seen{s, attrs})
			case "bad-1":
				badSpan = &seen{s, attrs}
			}
		}
		return len(flakySpans) == 2 && badSpan != nil
	})
	if len(flakySpans) != 2 {
		t.Fatalf("flaky-1: %d attempt spans, want 2", len(flakySpans))
	}
	for i, s := range flakySpans {
		want := map[string]string{"hookmesh.attempt": []string{"1", "2"}[i], "hookmesh.delivery.outcome": []string{"retry", "delivered"}[i]}
		for k, v := range want {
			if s.attrs[k] != v {
				t.Errorf("flaky-1 span %d: %s = %q, want %q", i, k, s.attrs[k], v)
			}
		}
		if s.span.SpanKind() != trace.SpanKindClient {
			t.Errorf("span kind %v, want client", s.span.SpanKind())
		}
		messaging := map[string]string{
			"messaging.system":              "nats",
			"messaging.operation.type":      "send",
			"messaging.operation.name":      "send",
			"messaging.destination.name":    "svc",
			"messaging.message.id":          "flaky-1",
			"messaging.consumer.group.name": "svc",
		}
		for k, v := range messaging {
			if s.attrs[k] != v {
				t.Errorf("flaky-1 span %d: %s = %q, want %q", i, k, s.attrs[k], v)
			}
		}
		if s.span.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("attempt %s: parent %s, want the stored context %s", s.attrs["hookmesh.attempt"], s.span.Parent().SpanID(), parent.SpanContext().SpanID())
		}
	}
	if flakySpans[0].span.SpanContext().SpanID() == flakySpans[1].span.SpanContext().SpanID() {
		t.Error("the retry reused the first attempt's span")
	}
	if badSpan == nil {
		t.Fatal("no attempt span for bad-1")
	}
	if badSpan.attrs["hookmesh.delivery.outcome"] != "dead" || badSpan.attrs["hookmesh.dead_letter.id"] == "" {
		t.Errorf("dead letter not marked: %v", badSpan.attrs)
	}
	marked := false
	for _, ev := range badSpan.span.Events() {
		marked = marked || ev.Name == "dead letter"
	}
	if !marked {
		t.Errorf("no dead letter event on the span: %v", badSpan.span.Events())
	}

	// The retry's and the dead letter's log lines carry their attempt span's ids.
	want := map[string]string{
		"delivery failed; retry parked": flakySpans[0].span.SpanContext().SpanID().String(),
		"delivery dead-lettered":        badSpan.span.SpanContext().SpanID().String(),
	}
	for _, l := range logs.Lines() {
		msg, _ := l["msg"].(string)
		if id, ok := want[msg]; ok {
			if l["span_id"] != id || l["trace_id"] != parent.SpanContext().TraceID().String() {
				t.Errorf("%q logged with trace %v span %v, want %s %s", msg, l["trace_id"], l["span_id"], parent.SpanContext().TraceID(), id)
			}
			delete(want, msg)
		}
	}
	if len(want) > 0 {
		t.Errorf("log lines missing: %v", want)
	}

	// The dead letter made the subscription degraded: one health series is 1.
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP hookmesh_dispatch_subscription_health 1 for the subscription's current health (unknown, healthy, degraded, unhealthy; as GET /v1/subscriptions), 0 for the others.
# TYPE hookmesh_dispatch_subscription_health gauge
hookmesh_dispatch_subscription_health{health="degraded",subscription="svc"} 1
hookmesh_dispatch_subscription_health{health="healthy",subscription="svc"} 0
hookmesh_dispatch_subscription_health{health="unhealthy",subscription="svc"} 0
hookmesh_dispatch_subscription_health{health="unknown",subscription="svc"} 0
`), "hookmesh_dispatch_subscription_health"); err != nil {
		t.Error(err)
	}
}

// Log lines about an event before any attempt (here a filter that fails on
// it) carry the trace context stored with the event.
func TestPreAttemptLogsCarryStoredTrace(t *testing.T) {
	e := newEnv(t)
	addr, _ := serve(t, &testConsumer{fx: newEffects()}, "127.0.0.1:0")
	var logs logging.Capture
	s := sub("svc", addr, "f.*")
	s.Filter = `int(event.subject) > 0` // subjects are "thing/<id>": an error
	cfg := e.config(s)
	cfg.Logger = logging.New(&logs, "gateway")
	d := e.start(cfg)
	const traceID, spanID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	ev := event("f-1", "f.x")
	ev.Traceparent = "00-" + traceID + "-" + spanID + "-01"
	e.append(ev)
	waitState(t, d, ev, "svc", adminv1.DeliveryState_DELIVERY_STATE_FILTERED)
	// The line may follow the recorded state: poll with a generous deadline.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, l := range logs.Lines() {
			if l["msg"] == "filter error; event not delivered" {
				if l["trace_id"] != traceID || l["span_id"] != spanID {
					t.Errorf("filter error logged with trace %v span %v, want the stored %s %s", l["trace_id"], l["span_id"], traceID, spanID)
				}
				return
			}
		}
	}
	t.Fatalf("no filter error log line: %v", logs.Lines())
}
