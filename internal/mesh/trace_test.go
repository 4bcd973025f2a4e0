package mesh

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

const deliverRPC = "hookmesh.consumer.v1.EventConsumerService/Deliver"

// meshSpan is one ended span with its component (service.name) and attributes.
type meshSpan struct {
	sdktrace.ReadOnlySpan
	service string
	attrs   map[string]string
}

func (s meshSpan) String() string {
	return fmt.Sprintf("%s/%q(%s parent %s)", s.service, s.Name(), s.SpanContext().SpanID(), s.Parent().SpanID())
}

func (s meshSpan) traceID() string { return s.SpanContext().TraceID().String() }

// ended is every span the mesh's components ended so far.
func (r *running) ended() []meshSpan {
	var out []meshSpan
	for _, s := range r.spans.GetSpans().Snapshots() {
		ms := meshSpan{ReadOnlySpan: s, attrs: map[string]string{}}
		for _, kv := range s.Resource().Attributes() {
			if kv.Key == semconv.ServiceNameKey {
				ms.service = kv.Value.AsString()
			}
		}
		for _, kv := range s.Attributes() {
			ms.attrs[string(kv.Key)] = kv.Value.String()
		}
		out = append(out, ms)
	}
	return out
}

// want names a span: its component and name (a trailing * matches a prefix),
// optionally the event id it is about.
type want struct{ service, name, event string }

func (w want) matches(s meshSpan) bool {
	if s.service != w.service || (w.event != "" && s.attrs["hookmesh.event.id"] != w.event) {
		return false
	}
	if p, ok := strings.CutSuffix(w.name, "*"); ok {
		return strings.HasPrefix(s.Name(), p)
	}
	return s.Name() == w.name
}

// waitSpans waits until trace traceID holds a span for each want, and returns the trace.
func (r *running) waitSpans(t *testing.T, traceID string, wants ...want) []meshSpan {
	t.Helper()
	var spans []meshSpan
	until(t, "spans in trace "+traceID, func() string {
		spans = spans[:0]
		for _, s := range r.ended() {
			if s.traceID() == traceID {
				spans = append(spans, s)
			}
		}
		for _, w := range wants {
			if !slices.ContainsFunc(spans, w.matches) {
				return fmt.Sprintf("no %v among %v", w, spans)
			}
		}
		return ""
	})
	return spans
}

// only returns the one span of spans matching w whose parent is parent (any
// parent when parent is nil), failing the test otherwise.
func only(t *testing.T, spans []meshSpan, w want, parent *meshSpan, kind trace.SpanKind) meshSpan {
	t.Helper()
	var found []meshSpan
	for _, s := range spans {
		if w.matches(s) && (parent == nil || s.Parent().SpanID() == parent.SpanContext().SpanID()) {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans %v with parent %v, want 1 (trace: %v)", len(found), w, parent, spans)
	}
	if found[0].SpanKind() != kind {
		t.Errorf("%v: kind %v, want %v", found[0], found[0].SpanKind(), kind)
	}
	return found[0]
}

// checkDelivery asserts the chain of one delivery of event to sub: the
// dispatcher's "send <sub>" span (child of parent, the context stored with the
// event) → its gRPC client span → the service's server span → the service's
// "process <sub>" span (by DeliverBatch: the attempt → the service's span), both
// with the messaging conventions' attributes. It returns the service's span.
func checkDelivery(t *testing.T, spans []meshSpan, parent meshSpan, sub, event string) (work meshSpan) {
	t.Helper()
	attempt := only(t, spans, want{"gateway", "send " + sub, event}, &parent, trace.SpanKindClient)
	if attempt.attrs["hookmesh.attempt"] != "1" || attempt.attrs["hookmesh.subscription"] != sub || attempt.attrs["hookmesh.delivery.outcome"] != "delivered" {
		t.Errorf("%v: attributes %v", attempt, attempt.attrs)
	}
	work = processSpan(t, spans, attempt, sub, event)
	if work.attrs["hookmesh.attempt"] != "1" {
		t.Errorf("%v: attempt %q, want 1", work, work.attrs["hookmesh.attempt"])
	}
	for op, s := range map[string]meshSpan{"send": attempt, "process": work} {
		want := map[string]string{
			"messaging.system": "nats", "messaging.operation.type": op, "messaging.destination.name": sub,
			"messaging.message.id": event, "messaging.consumer.group.name": sub,
		}
		for k, v := range want {
			if s.attrs[k] != v {
				t.Errorf("%v: %s = %q, want %q", s, k, s.attrs[k], v)
			}
		}
	}
	return work
}

// processSpan is the service's "process <sub>" span of one attempt: under the
// attempt's Deliver client and server spans, or, delivered by DeliverBatch (the
// call is a trace of its own), a child of the attempt's span, whose context the
// batch's entry carried.
func processSpan(t *testing.T, spans []meshSpan, attempt meshSpan, sub, event string) meshSpan {
	t.Helper()
	if slices.ContainsFunc(spans, func(s meshSpan) bool {
		return (want{"gateway", deliverRPC, ""}).matches(s) && s.Parent().SpanID() == attempt.SpanContext().SpanID()
	}) {
		client := only(t, spans, want{"gateway", deliverRPC, ""}, &attempt, trace.SpanKindClient)
		server := only(t, spans, want{sub, deliverRPC, ""}, &client, trace.SpanKindServer)
		return only(t, spans, want{sub, "process " + sub, event}, &server, trace.SpanKindConsumer)
	}
	return only(t, spans, want{sub, "process " + sub, event}, &attempt, trace.SpanKindConsumer)
}

// checkIngest asserts the gateway's server span of a webhook and its producer
// span, and that the event's stored traceparent names the server span.
func (r *running) checkIngest(t *testing.T, spans []meshSpan, source, event string) meshSpan {
	t.Helper()
	in := only(t, spans, want{"gateway", "POST /hooks/" + source, event}, nil, trace.SpanKindServer)
	only(t, spans, want{"gateway", "hookmesh.eventlog append", event}, &in, trace.SpanKindProducer)
	if got := r.storedTraceparent(t, event); got != "00-"+in.traceID()+"-"+in.SpanContext().SpanID().String()+"-01" {
		t.Errorf("event %s stored traceparent %q, want the ingest span %v", event, got, in)
	}
	return in
}

func (r *running) storedTraceparent(t *testing.T, id string) string {
	t.Helper()
	status, body := r.get(t, "/v1/events/"+id)
	if status != http.StatusOK {
		t.Fatalf("GET /v1/events/%s: %d %v", id, status, body)
	}
	ev, _ := body["event"].(map[string]any)
	tp, _ := ev["traceparent"].(string)
	return tp
}

func (r *running) waitDelivered(t *testing.T, id string, subs ...string) {
	t.Helper()
	until(t, id+" delivered", func() string {
		s := r.deliveryStates(t, id)
		for _, sub := range subs {
			if s[sub] != "DELIVERY_STATE_DELIVERED" {
				return fmt.Sprint(s)
			}
		}
		return ""
	})
}

func b3(traceID, spanID string) http.Header {
	return http.Header{"X-B3-Traceid": {traceID}, "X-B3-Spanid": {spanID}, "X-B3-Sampled": {"1"}}
}

func userRow(id int, email, name string) string {
	return fmt.Sprintf(`{"id":%d,"email":%q,"name":%q,"registration_method":"github"}`, id, email, name)
}

// One trace per event across gateway, log, dispatcher and every service hop,
// whichever way the sender's context arrives; untrusted senders and replays
// start new traces linked to theirs.
func TestMeshTrace(t *testing.T) {
	t.Setenv("EMAIL_REPORT_RECIPIENTS", "ops@example.com")
	r := startMesh(t)

	// How a user insert is traced once the sender's context is known.
	userInsert := func(t *testing.T, traceID, senderSpan, id string) {
		t.Helper()
		r.waitDelivered(t, id, "email", "analytics")
		spans := r.waitSpans(t, traceID,
			want{"email", "email.send outbox", ""}, want{"analytics", "process analytics", id},
			want{"gateway", "send email", id}, want{"gateway", "send analytics", id})
		in := r.checkIngest(t, spans, "hasura", id)
		if in.Parent().SpanID().String() != senderSpan || !in.Parent().IsRemote() {
			t.Errorf("ingest span's parent %s, want the sender's %s", in.Parent().SpanID(), senderSpan)
		}
		mail := checkDelivery(t, spans, in, "email", id)
		only(t, spans, want{"email", "email.send outbox", ""}, &mail, trace.SpanKindInternal)
		track := checkDelivery(t, spans, in, "analytics", id)
		// The group commit is its own span, linked to the deliveries it stored.
		until(t, "batch commit linked", func() string {
			for _, s := range r.ended() {
				if s.service == "analytics" && s.Name() == "batch commit" && slices.ContainsFunc(s.Links(), func(l sdktrace.Link) bool {
					return l.SpanContext.SpanID() == track.SpanContext().SpanID()
				}) {
					return ""
				}
			}
			return "no batch commit span linked to " + track.String()
		})
	}

	t.Run("B3 headers", func(t *testing.T) {
		const traceID, spanID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
		r.hasura(t, tableEvent("tr-b3", "users", "INSERT", "null", userRow(42, "ada@example.com", "Ada")), b3(traceID, spanID))
		userInsert(t, traceID, spanID, "tr-b3")
	})

	t.Run("traceparent header", func(t *testing.T) {
		const traceID, spanID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
		r.hasura(t, tableEvent("tr-w3c", "users", "INSERT", "null", userRow(43, "grace@example.com", "Grace")),
			http.Header{"Traceparent": {"00-" + traceID + "-" + spanID + "-01"}})
		userInsert(t, traceID, spanID, "tr-w3c")
	})

	t.Run("body trace_context only", func(t *testing.T) {
		const traceID, spanID = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
		body := strings.Replace(tableEvent("tr-body", "users", "INSERT", "null", userRow(44, "alan@example.com", "Alan")),
			`"trace_context":null`, `"trace_context":{"trace_id":"`+traceID+`","span_id":"`+spanID+`","sampling_state":"1"}`, 1)
		r.hasura(t, body, nil)
		userInsert(t, traceID, spanID, "tr-body")
	})

	t.Run("follow-up event and fulfillment webhook", func(t *testing.T) {
		const traceID, spanID = "d4cda95b652f4a1592b449d5929fda1b", "6e0c63257de34c92"
		order := `{"id":9001,"customer_id":42,"status":"%s","items":[{"sku":"MUG-LOGO","quantity":1,"price":12.5}],"total":12.5}`
		r.hasura(t, tableEvent("tr-ord", "orders", "UPDATE", fmt.Sprintf(order, "pending"), fmt.Sprintf(order, "completed")), b3(traceID, spanID))
		r.waitDelivered(t, "tr-ord", "orders", "analytics")
		spans := r.waitSpans(t, traceID,
			want{"orders", "process orders", "tr-ord"}, want{"orders", "fulfillment.notify", ""},
			want{"gateway", "send email", ""}, want{"email", "email.send outbox", ""})
		in := r.checkIngest(t, spans, "hasura", "tr-ord")
		work := checkDelivery(t, spans, in, "orders", "tr-ord")
		checkDelivery(t, spans, in, "analytics", "tr-ord")

		// orders → PublisherService/Publish → the log → email, in the same trace.
		pub := only(t, spans, want{"orders", "orders.publish orders.shipment.created", ""}, &work, trace.SpanKindProducer)
		client := only(t, spans, want{"orders", "hookmesh.event.v1.PublisherService/Publish", ""}, &pub, trace.SpanKindClient)
		server := only(t, spans, want{"gateway", "hookmesh.event.v1.PublisherService/Publish", ""}, &client, trace.SpanKindServer)
		appendSpan := only(t, spans, want{"gateway", "hookmesh.eventlog append", ""}, &server, trace.SpanKindProducer)
		followUp := appendSpan.attrs["hookmesh.event.id"]
		if appendSpan.attrs["hookmesh.event.type"] != "orders.shipment.created" {
			t.Errorf("published event: %v", appendSpan.attrs)
		}
		r.waitDelivered(t, followUp, "email")
		spans = r.waitSpans(t, traceID, want{"gateway", "send email", followUp}, want{"email", "email.send outbox", ""})
		// The follow-up carries its publisher's context (the orders.publish
		// producer span), as a webhook carries its sender's: its deliveries are
		// children of that span.
		if got := r.storedTraceparent(t, followUp); got != "00-"+traceID+"-"+pub.SpanContext().SpanID().String()+"-01" {
			t.Errorf("follow-up stored traceparent %q, want the orders.publish span %v", got, pub)
		}
		mail := checkDelivery(t, spans, pub, "email", followUp)
		only(t, spans, want{"email", "email.send outbox", ""}, &mail, trace.SpanKindInternal)

		// The signed fulfillment webhook is an HTTP client hop of the same trace;
		// the gateway's standard source does not trust it: a new trace, linked.
		notify := only(t, spans, want{"orders", "fulfillment.notify", ""}, &work, trace.SpanKindProducer)
		post := only(t, spans, want{"orders", "HTTP POST", ""}, &notify, trace.SpanKindClient)
		until(t, "fulfillment webhook ingested", func() string {
			for _, s := range r.ended() {
				if s.service == "gateway" && s.Name() == "POST /hooks/standard" {
					if s.traceID() == traceID || len(s.Links()) != 1 || s.Links()[0].SpanContext.SpanID() != post.SpanContext().SpanID() {
						return fmt.Sprintf("%v continues or links %v, want a new trace linked to %v", s, s.Links(), post)
					}
					return ""
				}
			}
			return "no POST /hooks/standard span"
		})
	})

	t.Run("report email asks analytics over gRPC", func(t *testing.T) {
		const traceID, spanID = "a3ce929d0e0e47364bf92f3577b34da6", "a902b700f067aa0b"
		body := `{"id":"tr-cron","name":"daily-report","scheduled_time":"2026-11-26T09:00:00Z","payload":{"report_type":"daily_summary"}}`
		r.hasura(t, body, b3(traceID, spanID))
		r.waitDelivered(t, "tr-cron", "email")
		spans := r.waitSpans(t, traceID, want{"analytics", "hookmesh.analytics.v1.AnalyticsService/*", ""}, want{"email", "email.send outbox", ""})
		in := r.checkIngest(t, spans, "hasura", "tr-cron")
		work := checkDelivery(t, spans, in, "email", "tr-cron")
		client := only(t, spans, want{"email", "hookmesh.analytics.v1.AnalyticsService/*", ""}, &work, trace.SpanKindClient)
		only(t, spans, want{"analytics", client.Name(), ""}, &client, trace.SpanKindServer)
	})

	t.Run("external provider is linked, not continued", func(t *testing.T) {
		const traceID, spanID = "1bf92f3577b34da6a3ce929d0e0e4731", "10f067aa0ba902b1"
		body := `{"id":"evt_trace_1","object":"event","type":"payment_intent.succeeded","created":` + strconv.FormatInt(time.Now().Unix(), 10) +
			`,"data":{"object":{"id":"pi_trace_1","object":"payment_intent","amount":1250,"currency":"usd","metadata":{"order_id":"9001"}}}}`
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		mac := hmac.New(sha256.New, []byte(os.Getenv("STRIPE_WEBHOOK_SECRET")))
		mac.Write([]byte(ts + "." + body))
		req, _ := http.NewRequest(http.MethodPost, r.base+"/hooks/stripe", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Stripe-Signature", "t="+ts+",v1="+hex.EncodeToString(mac.Sum(nil)))
		req.Header.Set("Traceparent", "00-"+traceID+"-"+spanID+"-01")
		if status, out := do(t, req); status != http.StatusOK || out["status"] != "accepted" {
			t.Fatalf("POST /hooks/stripe: %d %v", status, out)
		}
		r.waitDelivered(t, "evt_trace_1", "analytics")
		var in meshSpan
		until(t, "stripe ingest span", func() string {
			for _, s := range r.ended() {
				if s.service == "gateway" && s.Name() == "POST /hooks/stripe" && s.attrs["hookmesh.event.id"] == "evt_trace_1" {
					in = s
					return ""
				}
			}
			return "none yet"
		})
		if in.traceID() == traceID || in.Parent().IsValid() {
			t.Fatalf("stripe span %v continues the sender's trace", in)
		}
		if l := in.Links(); len(l) != 1 || l[0].SpanContext.TraceID().String() != traceID || l[0].SpanContext.SpanID().String() != spanID {
			t.Errorf("stripe span links %v, want the sender's %s/%s", l, traceID, spanID)
		}
		spans := r.waitSpans(t, in.traceID(), want{"analytics", "process analytics", "evt_trace_1"})
		r.checkIngest(t, spans, "stripe", "evt_trace_1")
		checkDelivery(t, spans, in, "analytics", "evt_trace_1")
		for _, s := range r.ended() {
			if s.traceID() == traceID {
				t.Errorf("span %v in the untrusted sender's trace", s)
			}
		}
	})

	t.Run("dead letter marked, replay is a new trace linked to the original", func(t *testing.T) {
		const traceID, spanID = "2bf92f3577b34da6a3ce929d0e0e4732", "20f067aa0ba902b2"
		// No customer_id: orders refuses it for good.
		r.hasura(t, tableEvent("tr-dead", "orders", "INSERT", "null", `{"id":9100,"status":"pending","items":[],"total":0}`), b3(traceID, spanID))
		until(t, "dead letter", func() string {
			if s := r.deliveryStates(t, "tr-dead"); s["orders"] != "DELIVERY_STATE_DEAD" {
				return fmt.Sprint(s)
			}
			return ""
		})
		spans := r.waitSpans(t, traceID, want{"gateway", "send orders", "tr-dead"})
		in := r.checkIngest(t, spans, "hasura", "tr-dead")
		dead := only(t, spans, want{"gateway", "send orders", "tr-dead"}, &in, trace.SpanKindClient)
		if dead.attrs["hookmesh.delivery.outcome"] != "dead" || dead.attrs["hookmesh.dead_letter.id"] == "" || dead.Status().Code.String() != "Error" {
			t.Errorf("dead letter not marked: %v %v", dead.attrs, dead.Status())
		}
		if !slices.ContainsFunc(dead.Events(), func(e sdktrace.Event) bool { return e.Name == "dead letter" }) {
			t.Errorf("no dead letter event on %v", dead)
		}
		work := only(t, spans, want{"orders", "process orders", "tr-dead"}, nil, trace.SpanKindConsumer)
		if work.attrs["rpc.grpc.status"] != "InvalidArgument" {
			t.Errorf("process orders: %v", work.attrs)
		}

		req, _ := http.NewRequest(http.MethodPost, r.base+"/v1/events/tr-dead:replay", strings.NewReader(`{"source":"hasura","subscriptions":["orders"]}`))
		req.Header.Set("Content-Type", "application/json")
		if status, out := do(t, req); status != http.StatusOK {
			t.Fatalf("replay: %d %v", status, out)
		}
		var replay meshSpan
		until(t, "replayed attempt span", func() string {
			for _, s := range r.ended() {
				if s.Name() == "send orders" && s.attrs["hookmesh.event.id"] == "tr-dead" && s.attrs["hookmesh.replay"] == "true" {
					replay = s
					return ""
				}
			}
			return "none yet"
		})
		if replay.traceID() == traceID || replay.Parent().IsValid() {
			t.Errorf("replay %v is not a new trace", replay)
		}
		if l := replay.Links(); len(l) != 1 || l[0].SpanContext.SpanID() != in.SpanContext().SpanID() || l[0].SpanContext.TraceID().String() != traceID {
			t.Errorf("replay links %v, want the original's stored context %v", l, in)
		}
		// The replay's whole delivery hangs off the new trace.
		spans = r.waitSpans(t, replay.traceID(), want{"orders", "process orders", "tr-dead"})
		if w := processSpan(t, spans, replay, "orders", "tr-dead"); w.attrs["hookmesh.replay"] != "true" {
			t.Errorf("process orders of the replay: %v", w.attrs)
		}
	})

	// Nothing secret or personal in any attribute of any span.
	secrets := []string{"@example.com", "registration_method", "Ada", "Grace"}
	for _, s := range DemoSecrets {
		secrets = append(secrets, os.Getenv(s.Env))
	}
	for _, s := range r.ended() {
		for k, v := range s.attrs {
			for _, bad := range secrets {
				if bad != "" && strings.Contains(v, bad) {
					t.Errorf("%v: attribute %s holds %q", s, k, bad)
				}
			}
		}
	}
}

// A retried attempt is its own span, numbered, under the event's stored
// context; the log lines of the failure carry the trace and span ids.
func TestMeshRetriedAttemptIsItsOwnSpan(t *testing.T) {
	// Mail goes to an SMTP server that is down: every send fails, temporarily.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := lis.Addr().String()
	_ = lis.Close()
	t.Setenv("SMTP_URL", "smtp://"+down+"?starttls=off&timeout=2s")
	r := startMesh(t)

	const traceID, spanID = "3bf92f3577b34da6a3ce929d0e0e4733", "30f067aa0ba902b3"
	r.hasura(t, tableEvent("tr-retry", "users", "INSERT", "null", userRow(45, "barbara@example.com", "Barbara")), b3(traceID, spanID))
	attempts := map[string]meshSpan{}
	var spans []meshSpan
	until(t, "two attempts of the email delivery", func() string {
		spans = spans[:0]
		for _, s := range r.ended() {
			if s.traceID() == traceID {
				spans = append(spans, s)
			}
			if s.Name() == "send email" && s.attrs["hookmesh.event.id"] == "tr-retry" {
				attempts[s.attrs["hookmesh.attempt"]] = s
			}
		}
		if attempts["1"].ReadOnlySpan == nil || attempts["2"].ReadOnlySpan == nil {
			return fmt.Sprintf("attempts %v", attempts)
		}
		return ""
	})
	in := r.checkIngest(t, spans, "hasura", "tr-retry")
	if attempts["1"].SpanContext().SpanID() == attempts["2"].SpanContext().SpanID() {
		t.Fatal("the retry reused the first attempt's span")
	}
	for _, n := range []string{"1", "2"} {
		a := attempts[n]
		if a.traceID() != traceID || a.Parent().SpanID() != in.SpanContext().SpanID() {
			t.Errorf("attempt %s: %v, want a child of the ingest span %v", n, a, in)
		}
		if a.SpanKind() != trace.SpanKindClient || a.Status().Code.String() != "Error" || a.attrs["rpc.grpc.status_code"] != "Unavailable" {
			t.Errorf("attempt %s: kind %v status %v attrs %v", n, a.SpanKind(), a.Status(), a.attrs)
		}
		// Each attempt has its own hops down to the failed SMTP conversation.
		work := processSpan(t, spans, a, "email", "tr-retry")
		if work.attrs["hookmesh.attempt"] != n {
			t.Errorf("process email of attempt %s says attempt %s", n, work.attrs["hookmesh.attempt"])
		}
		send := only(t, spans, want{"email", "email.send smtp", ""}, &work, trace.SpanKindClient)
		if send.attrs["hookmesh.email.result"] != "unavailable" {
			t.Errorf("send of attempt %s: %v", n, send.attrs)
		}
	}
	if a := attempts["1"]; a.attrs["hookmesh.delivery.outcome"] != "retry" || a.attrs["hookmesh.retry.delay_ms"] == "" {
		t.Errorf("attempt 1 not marked as a parked retry: %v", a.attrs)
	}

	// The failure's log lines, in the gateway and in email, name the trace and
	// the span they happened in.
	logged := map[string]bool{}
	for _, l := range r.logs.Lines() {
		switch {
		case l["msg"] == "delivery failed; retry parked" && l["event_id"] == "tr-retry" && l["attempt"] == float64(1):
			logged["gateway"] = true
			if l["component"] != "gateway" || l["trace_id"] != traceID || l["span_id"] != attempts["1"].SpanContext().SpanID().String() {
				t.Errorf("retry log line %v, want trace %s span %v", l, traceID, attempts["1"])
			}
		case l["msg"] == "message not sent" && l["event_id"] == "tr-retry":
			logged["email"] = true
			if l["component"] != "email" || l["trace_id"] != traceID || l["span_id"] == nil {
				t.Errorf("email log line %v, want trace %s", l, traceID)
			}
		}
	}
	if !logged["gateway"] || !logged["email"] {
		t.Errorf("log lines found: %v", logged)
	}
	for _, l := range r.logs.Lines() {
		if strings.Contains(fmt.Sprint(l), "barbara@example.com") {
			t.Errorf("address in a log line: %v", l)
		}
	}
}
