package dispatch

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	"github.com/hookmesh/hookmesh/platform/eventually"
)

func TestConfigValidation(t *testing.T) {
	e := newEnv(t)
	ok := sub("ok", "127.0.0.1:1", "a.*")
	tests := []struct {
		name string
		mod  func(c *Config)
		want string
	}{
		{"no js", func(c *Config) { c.JS = nil }, "JS is required"},
		{"bad name", func(c *Config) { c.Subscriptions[0].Name = "a.b" }, `subscription "a.b": name`},
		{"duplicate", func(c *Config) { c.Subscriptions = append(c.Subscriptions, ok) }, `subscription "ok": duplicate`},
		{"no target", func(c *Config) { c.Subscriptions[0].Target = "" }, `subscription "ok": target: required`},
		{"bad scheme", func(c *Config) { c.Subscriptions[0].Target = "http://x:1" }, "unsupported scheme"},
		{"no port", func(c *Config) { c.Subscriptions[0].Target = "localhost" }, "lacks a port"},
		{"unknown builtin", func(c *Config) { c.Subscriptions[0].Target = "builtin:nope" }, `subscription "ok": target builtin:nope: no built-in service "nope"`},
		{"no events", func(c *Config) { c.Subscriptions[0].Events = nil }, "events: at least one"},
		{"bad policy", func(c *Config) { c.Subscriptions[0].Retry = RetryPolicy{Policy: "linear"} }, "unknown policy"},
		{"mixed policy", func(c *Config) { c.Subscriptions[0].Retry.MaxAttempts = 3 }, "belong to the exponential policy"},
		{"exp max below initial", func(c *Config) {
			c.Subscriptions[0].Retry = RetryPolicy{Policy: PolicyExponential, MaxAttempts: 2, Initial: time.Minute, Max: time.Second}
		}, "max must not be below initial"},
		{"filter syntax", func(c *Config) { c.Subscriptions[0].Filter = "event.type ==" }, `subscription "ok": filter`},
		{"filter not bool", func(c *Config) { c.Subscriptions[0].Filter = `"x"` }, "want bool"},
		{"filter unknown variable", func(c *Config) { c.Subscriptions[0].Filter = `evt.type == "x"` }, `subscription "ok": filter`},
		{"bad breaker", func(c *Config) { c.Subscriptions[0].Breaker = &Breaker{} }, "breaker"},
		{"bad prefix", func(c *Config) { c.StreamPrefix = "a.b" }, "stream prefix"},
		{"missing event stream", func(c *Config) { c.StreamPrefix = "NOLOG_" }, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := e.config(ok)
			cfg.Registerer = nil
			tt.mod(&cfg)
			_, err := New(ctxT(t), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestSubscriptionChanges: a changed subscription keeps its consumer, updated in
// place; a removed one is kept and reported, or deleted with PruneRemoved.
func TestSubscriptionChanges(t *testing.T) {
	e := newEnv(t)
	c := &testConsumer{fx: newEffects()}
	addr, _ := serve(t, c, "127.0.0.1:0")
	ctx := ctxT(t)
	first := e.start(e.config(sub("keep", addr, "a.*"), sub("gone", addr, "a.*")))
	e.append(event("c-1", "a.x"))
	waitState(t, first, event("c-1", "a.x"), "keep", adminv1.DeliveryState_DELIVERY_STATE_DELIVERED)
	if err := first.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	changed := sub("keep", addr, "a.*")
	changed.MaxInFlight = 3
	changed.Timeout = 4 * time.Second
	d, err := New(ctx, e.config(changed))
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Orphans(); len(got) != 1 || got[0] != "gone" {
		t.Fatalf("orphans = %v, want [gone]", got)
	}
	info, err := d.workers[0].events.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxAckPending != 3 || info.Config.AckWait != 4*time.Second+500*time.Millisecond {
		t.Fatalf("consumer not updated in place: %+v", info.Config)
	}
	if info.Delivered.Stream == 0 {
		t.Fatal("consumer lost its position")
	}
	// The removed subscription's consumer is still there.
	if _, err := d.l.events.Consumer(ctx, eventsConsumerName("gone")); err != nil {
		t.Fatalf("kept consumer: %v", err)
	}

	cfg := e.config(changed)
	cfg.PruneRemoved = true
	pruned, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(pruned.Orphans()) != 0 {
		t.Fatalf("orphans after prune = %v", pruned.Orphans())
	}
	for _, st := range []struct {
		name string
		get  func() error
	}{
		{"events", func() error { _, err := d.l.events.Consumer(ctx, eventsConsumerName("gone")); return err }},
		{"retry", func() error { _, err := d.l.retry.Consumer(ctx, retryConsumerName("gone")); return err }},
	} {
		if err := st.get(); err == nil {
			t.Errorf("%s consumer of the removed subscription survived the prune", st.name)
		}
	}
}

// TestDeliveryTrace: the attempt span is a child of the event's stored trace
// context, the consumer gets that trace in its metadata, and a replay is a new
// trace linked to the original.
func TestDeliveryTrace(t *testing.T) {
	e := newEnv(t)
	c := &testConsumer{fx: newEffects()}
	addr, _ := serve(t, c, "127.0.0.1:0")
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	cfg := e.config(sub("svc", addr, "t.*"))
	cfg.TracerProvider = tp
	d := e.start(cfg)

	// The stored context of the span that accepted the webhook.
	parentCtx, parent := tp.Tracer("test").Start(t.Context(), "ingest")
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(parentCtx, carrier)
	parent.End()
	ev := event("tr-1", "t.x")
	ev.Traceparent = carrier["traceparent"]
	e.append(ev)
	dl := waitState(t, d, ev, "svc", adminv1.DeliveryState_DELIVERY_STATE_DELIVERED)

	want := parent.SpanContext().TraceID()
	if got := dl.GetAttempts()[0].GetTraceId(); got != want.String() {
		t.Fatalf("attempt trace id = %s, want the event's %s", got, want)
	}
	calls := c.callsFor("tr-1")
	if len(calls) != 1 || !strings.Contains(calls[0].traceparent, want.String()) {
		t.Fatalf("consumer traceparent = %q, want trace %s", calls[0].traceparent, want)
	}
	var span sdktrace.ReadOnlySpan
	for _, s := range exp.GetSpans().Snapshots() {
		if s.Name() == "send svc" {
			span = s
		}
	}
	if span == nil || span.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("delivery span not a child of the stored context: %v", span)
	}

	if _, err := d.ReplayEvent(ctxT(t), "test", "tr-1", nil); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 10*time.Second, "the replay", func() bool { return len(c.callsFor("tr-1")) == 2 })
	var replaySpan sdktrace.ReadOnlySpan
	eventually.True(t, 10*time.Second, "the replay span", func() bool {
		for _, s := range exp.GetSpans().Snapshots() {
			if s.Name() == "send svc" && s.SpanContext().TraceID() != want {
				replaySpan = s
			}
		}
		return replaySpan != nil
	})
	links := replaySpan.Links()
	if len(links) != 1 || links[0].SpanContext.TraceID() != want {
		t.Fatalf("replay span links = %v, want the original trace", links)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	c := rejecting()
	addr, _ := serve(t, c, "127.0.0.1:0")
	reg := prometheus.NewRegistry()
	cfg := e.config(sub("svc", addr, "m.*"))
	cfg.Registerer = reg
	d := e.start(cfg)
	e.append(event("ok-1", "m.x"))
	e.append(event("bad-1", "m.x"))
	waitState(t, d, event("bad-1", "m.x"), "svc", adminv1.DeliveryState_DELIVERY_STATE_DEAD)
	waitState(t, d, event("ok-1", "m.x"), "svc", adminv1.DeliveryState_DELIVERY_STATE_DELIVERED)
	if v := testutil.ToFloat64(d.m.deliveries.WithLabelValues("svc", "delivered")); v != 1 {
		t.Errorf("delivered = %v", v)
	}
	if v := testutil.ToFloat64(d.m.deadLetters.WithLabelValues("svc", "terminal")); v != 1 {
		t.Errorf("dead letters = %v", v)
	}
	n, err := testutil.GatherAndCount(reg, "hookmesh_dispatch_attempt_duration_seconds", "hookmesh_dispatch_backlog", "hookmesh_dispatch_oldest_undelivered_age_seconds")
	if err != nil || n < 3 {
		t.Fatalf("gathered %d series: %v", n, err)
	}
	// One registry per dispatcher: a second registration is an error, not a panic.
	cfg2 := e.config(sub("svc", addr, "m.*"))
	cfg2.Registerer = reg
	if _, err := New(ctxT(t), cfg2); err == nil || !strings.Contains(err.Error(), "register") {
		t.Fatalf("second registration: %v", err)
	}
}
