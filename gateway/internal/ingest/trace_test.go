package ingest

import (
	"context"
	"net/http"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
)

const (
	senderTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	senderSpan  = "00f067aa0ba902b7"
	b3Trace     = "80f198ee56343ba864fe8b2a57d3eff7"
	b3Span      = "e457b5a2e4d86bd1"
	bodyTrace   = "0af7651916cd43dd8448eb211c80319c"
	bodySpan    = "b7ad6b7169203331"
)

func TestTraceContinuation(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.WithoutCancel(t.Context())) }) // t.Context is cancelled by now
	l := openLog(t, eventlog.Config{})
	url := serve(t, Config{Log: l, TracerProvider: tp, Routes: []Route{
		hasuraRoute(t, "hasura", TraceContinue),
		hasuraRoute(t, "untrusted", TraceLink),
	}})
	bodyWithTrace := func(id string) []byte {
		return []byte(strings.Replace(string(hasuraBody(id)), `"trace_context":null`,
			`"trace_context":{"trace_id":"`+bodyTrace+`","span_id":"`+bodySpan+`","sampling_state":"1"}`, 1))
	}
	tests := []struct {
		name       string
		source     string
		header     map[string]string
		body       []byte
		wantTrace  string // the stored event's trace id; "" = a new trace
		wantParent string // the gateway span's parent span id
		wantLink   string // the span id the gateway span links to
	}{
		{name: "traceparent", source: "hasura", body: hasuraBody("t1"),
			header:    map[string]string{"traceparent": "00-" + senderTrace + "-" + senderSpan + "-01", "tracestate": "vendor=abc"},
			wantTrace: senderTrace, wantParent: senderSpan},
		{name: "B3 multi-header (Hasura's default)", source: "hasura", body: hasuraBody("t2"),
			header:    map[string]string{"X-B3-TraceId": b3Trace, "X-B3-SpanId": b3Span, "X-B3-Sampled": "1"},
			wantTrace: b3Trace, wantParent: b3Span},
		{name: "traceparent wins over B3", source: "hasura", body: hasuraBody("t3"),
			header: map[string]string{"traceparent": "00-" + senderTrace + "-" + senderSpan + "-01",
				"X-B3-TraceId": b3Trace, "X-B3-SpanId": b3Span, "X-B3-Sampled": "1"},
			wantTrace: senderTrace, wantParent: senderSpan},
		{name: "body trace_context without headers", source: "hasura", body: bodyWithTrace("t4"),
			wantTrace: bodyTrace, wantParent: bodySpan},
		{name: "headers win over the body", source: "hasura", body: bodyWithTrace("t5"),
			header:    map[string]string{"X-B3-TraceId": b3Trace, "X-B3-SpanId": b3Span, "X-B3-Sampled": "1"},
			wantTrace: b3Trace, wantParent: b3Span},
		{name: "no context: new trace", source: "hasura", body: hasuraBody("t6")},
		{name: "link mode: new trace linked to the sender", source: "untrusted", body: hasuraBody("t7"),
			header:   map[string]string{"traceparent": "00-" + senderTrace + "-" + senderSpan + "-01"},
			wantLink: senderSpan},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := hasuraHeader()
			for k, v := range tc.header {
				h.Set(k, v)
			}
			r := post(t, url+"/hooks/"+tc.source, h, tc.body)
			if r.Status != http.StatusOK {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
			id, _ := r.Body["event_id"].(string)
			ev := getEvent(t, l, tc.source, id)
			tp := ev.GetTraceparent()
			if len(tp) != 55 || !strings.HasSuffix(tp, "-01") {
				t.Fatalf("stored traceparent %q", tp)
			}
			switch {
			case tc.wantTrace != "" && traceIDOf(tp) != tc.wantTrace:
				t.Errorf("stored trace %s, want %s", traceIDOf(tp), tc.wantTrace)
			case tc.wantTrace == "" && (traceIDOf(tp) == senderTrace || traceIDOf(tp) == b3Trace || traceIDOf(tp) == bodyTrace):
				t.Errorf("stored trace %s continues a sender", traceIDOf(tp))
			}
			if tc.header["tracestate"] != "" && ev.GetTracestate() != tc.header["tracestate"] {
				t.Errorf("tracestate %q", ev.GetTracestate())
			}
			// The stored context is the gateway's own server span.
			var span sdktrace.ReadOnlySpan
			for _, s := range rec.Ended() {
				if s.SpanContext().SpanID().String() == spanIDOf(tp) {
					span = s
				}
			}
			if span == nil {
				t.Fatalf("no ended span %s among %d", spanIDOf(tp), len(rec.Ended()))
			}
			if span.Name() != "POST /hooks/"+tc.source {
				t.Errorf("span name %q", span.Name())
			}
			if got := span.Parent().SpanID().String(); tc.wantParent != "" && got != tc.wantParent {
				t.Errorf("parent %s, want %s", got, tc.wantParent)
			}
			if tc.wantParent == "" && span.Parent().IsValid() {
				t.Errorf("span has parent %s, want a root", span.Parent().SpanID())
			}
			if tc.wantLink != "" {
				links := span.Links()
				if len(links) != 1 || links[0].SpanContext.SpanID().String() != tc.wantLink ||
					links[0].SpanContext.TraceID().String() != senderTrace {
					t.Errorf("links %v, want %s", links, tc.wantLink)
				}
			}
			// Verification is its own child span.
			verified := false
			for _, s := range rec.Ended() {
				if s.Name() == "webhook.verify" && s.Parent().SpanID() == span.SpanContext().SpanID() {
					verified = true
				}
			}
			if !verified {
				t.Errorf("no webhook.verify child span")
			}
			attrs := map[string]string{}
			for _, a := range span.Attributes() {
				attrs[string(a.Key)] = a.Value.String()
			}
			if attrs["hookmesh.event.source"] != tc.source || attrs["hookmesh.event.id"] != id || attrs["hookmesh.ingest.status"] != "accepted" {
				t.Errorf("span attributes %v", attrs)
			}
			for k, v := range attrs {
				if strings.Contains(v, hasuraSecret) {
					t.Errorf("secret in span attribute %s", k)
				}
			}
		})
	}
}

// Without a tracer provider the sender's context is still stored for trusted sources
// (delivery spans become its children) and dropped for untrusted ones.
func TestTraceWithoutProvider(t *testing.T) {
	l := openLog(t, eventlog.Config{})
	url := serve(t, Config{Log: l, Routes: []Route{hasuraRoute(t, "hasura", TraceContinue), hasuraRoute(t, "untrusted", TraceLink)}})
	h := hasuraHeader()
	h.Set("traceparent", "00-"+senderTrace+"-"+senderSpan+"-01")
	for source, want := range map[string]string{"hasura": "00-" + senderTrace + "-" + senderSpan + "-01", "untrusted": ""} {
		r := post(t, url+"/hooks/"+source, h, hasuraBody("np-"+source))
		if r.Status != http.StatusOK {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
		ev := getEvent(t, l, source, "np-"+source)
		if ev.GetTraceparent() != want {
			t.Errorf("%s: traceparent %q, want %q", source, ev.GetTraceparent(), want)
		}
	}
	// Hasura's body trace_context counts as the sender's context too; no context at
	// all leaves the event without one.
	body := []byte(strings.Replace(string(hasuraBody("np-body")), `"trace_context":null`,
		`"trace_context":{"trace_id":"`+bodyTrace+`","span_id":"`+bodySpan+`","sampling_state":"1"}`, 1))
	for _, tc := range []struct {
		id   string
		body []byte
		want string
	}{
		{"np-body", body, "00-" + bodyTrace + "-" + bodySpan + "-01"},
		{"np-none", hasuraBody("np-none"), ""},
	} {
		r := post(t, url+"/hooks/hasura", hasuraHeader(), tc.body)
		if r.Status != http.StatusOK {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
		if ev := getEvent(t, l, "hasura", tc.id); ev.GetTraceparent() != tc.want {
			t.Errorf("%s: traceparent %q, want %q", tc.id, ev.GetTraceparent(), tc.want)
		}
	}
}
