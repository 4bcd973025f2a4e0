package mesh

import (
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpSink is an OTLP/HTTP trace receiver: it keeps, per trace id, the
// service.name of every span exported to it.
type otlpSink struct {
	mu     sync.Mutex
	traces map[string]map[string]int // trace id → service.name → spans
}

func (s *otlpSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" {
		http.NotFound(w, r)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	req := &collectortrace.ExportTraceServiceRequest{}
	if err == nil {
		err = proto.Unmarshal(b, req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				id := hex.EncodeToString(sp.GetTraceId())
				if s.traces[id] == nil {
					s.traces[id] = map[string]int{}
				}
				s.traces[id][service]++
			}
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

func (s *otlpSink) services(traceID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for name := range s.traces[traceID] {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func (s *otlpSink) numTraces() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.traces)
}

// The all-in-one process exports through the standard OTEL_* environment, one
// provider per component (service.name gateway, email, analytics, orders), and
// samples on the sender's decision: with a ratio of 0 for new traces, a B3
// X-B3-Sampled: 1 webhook is exported across every component and one with
// X-B3-Sampled: 0 is not.
func TestMeshExportsOTLPPerComponent(t *testing.T) {
	sink := &otlpSink{traces: map[string]map[string]int{}}
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
	t.Setenv("OTEL_TRACES_SAMPLER_ARG", "0")
	r := startMeshWith(t, func(o *Options) { o.SpanExporter = nil })

	const sampled, unsampled = "4bf92f3577b34da6a3ce929d0e0e4700", "4bf92f3577b34da6a3ce929d0e0e4701"
	r.hasura(t, tableEvent("otlp-user", "users", "INSERT", "null", userRow(50, "edsger@example.com", "Edsger")), b3(sampled, "00f067aa0ba902b7"))
	r.waitDelivered(t, "otlp-user", "email", "analytics")
	order := `{"id":9050,"customer_id":50,"status":"%s","items":[{"sku":"MUG-LOGO","quantity":1,"price":12.5}],"total":12.5}`
	r.hasura(t, tableEvent("otlp-order", "orders", "UPDATE", fmt.Sprintf(order, "pending"), fmt.Sprintf(order, "completed")), b3(sampled, "00f067aa0ba902b8"))
	notSampled := http.Header{"X-B3-Traceid": {unsampled}, "X-B3-Spanid": {"00f067aa0ba902b9"}, "X-B3-Sampled": {"0"}}
	r.hasura(t, tableEvent("otlp-quiet", "users", "INSERT", "null", userRow(51, "tony@example.com", "Tony")), notSampled)
	r.waitDelivered(t, "otlp-order", "orders", "analytics")
	r.waitDelivered(t, "otlp-quiet", "email", "analytics")
	until(t, "order confirmation", func() string {
		for _, m := range r.messages(t, "") {
			if m["event_type"] == "orders.shipment.created" {
				return ""
			}
		}
		return "none yet"
	})

	// Shutdown flushes every component's batch of spans to the collector.
	r.stop()
	if got := strings.Join(sink.services(sampled), ","); got != "analytics,email,gateway,orders" {
		t.Errorf("components exported in the sampled trace: %q, want analytics,email,gateway,orders", got)
	}
	if got := sink.services(unsampled); len(got) != 0 {
		t.Errorf("the unsampled trace was exported by %v", got)
	}
	// Nothing else was sampled: new root traces (the fulfillment webhook's
	// linked trace, the REST calls) fall to the ratio of 0.
	if n := sink.numTraces(); n != 1 {
		t.Errorf("%d traces exported, want 1", n)
	}
}
