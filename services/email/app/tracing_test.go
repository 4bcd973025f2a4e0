package app_test

import (
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	"github.com/hookmesh/hookmesh/services/email/internal/smtp/smtptest"
)

// Each send is its own client span under the delivery's span, saying how it
// ended, with no address in it.
func TestSendSpans(t *testing.T) {
	m := start(t, dialects[0], nil)
	m.smtp.Fail(smtptest.StageRcpt, 550, "5.1.1 unknown")
	m.smtp.Fail(smtptest.StageMail, 451, "4.3.0 later")
	// The first message meets the MAIL FROM failure, the second the RCPT TO one.
	want := []struct{ id, result string }{{"s-1", "unavailable"}, {"s-2", "rejected"}, {"s-3", "sent"}}
	for _, w := range want {
		_, _ = m.client.Deliver(t.Context(), &consumerv1.DeliverRequest{Event: userInsert(w.id, w.id+"@example.com")})
	}
	deliver := map[trace.SpanID]string{} // process span → event id
	var sends []sdktrace.ReadOnlySpan
	for _, s := range m.spans.Ended() {
		switch s.Name() {
		case "process": // the delivery's span; these requests name no subscription
			for _, kv := range s.Attributes() {
				if kv.Key == "hookmesh.event.id" {
					deliver[s.SpanContext().SpanID()] = kv.Value.AsString()
				}
			}
		case "email.send smtp":
			sends = append(sends, s)
		}
	}
	if len(sends) != len(want) {
		t.Fatalf("%d send spans, want %d", len(sends), len(want))
	}
	got := map[string]string{}
	for _, s := range sends {
		if s.SpanKind() != trace.SpanKindClient {
			t.Errorf("send span kind %v, want client", s.SpanKind())
		}
		id, ok := deliver[s.Parent().SpanID()]
		if !ok {
			t.Errorf("send span's parent %s is not a delivery's process span", s.Parent().SpanID())
		}
		attrs := map[string]string{}
		for _, kv := range s.Attributes() {
			attrs[string(kv.Key)] = kv.Value.String()
			if strings.Contains(kv.Value.String(), "@") {
				t.Errorf("send span attribute %s holds an address", kv.Key)
			}
		}
		got[id] = attrs["hookmesh.email.result"]
		if failed := s.Status().Code.String() == "Error"; failed != (attrs["hookmesh.email.result"] != "sent") {
			t.Errorf("%s: status %v with result %s", id, s.Status(), attrs["hookmesh.email.result"])
		}
		if s.Status().Description != attrs["hookmesh.email.result"] && s.Status().Description != "" {
			t.Errorf("%s: status description %q carries more than the result", id, s.Status().Description)
		}
	}
	for _, w := range want {
		if got[w.id] != w.result {
			t.Errorf("%s: send result %q, want %q", w.id, got[w.id], w.result)
		}
	}
}
