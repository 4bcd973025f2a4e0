package telemetry_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/hookmesh/hookmesh/platform/telemetry"
)

func TestSetupResourceAndSpans(t *testing.T) {
	t.Setenv("OTEL_SERVICE_NAME", "overridden")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
	ctx := t.Context()
	for _, component := range []string{"gateway", "email"} {
		t.Run(component, func(t *testing.T) {
			exp := tracetest.NewInMemoryExporter()
			p, err := telemetry.Setup(ctx, telemetry.Config{Component: component, SpanExporter: exp})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = p.Shutdown(ctx) }()
			if !p.Exporting {
				t.Error("Exporting = false with a SpanExporter")
			}
			_, span := p.Tracer("test").Start(ctx, "op")
			span.End()
			spans := exp.GetSpans()
			if len(spans) != 1 {
				t.Fatalf("exported %d spans, want 1 (synchronously)", len(spans))
			}
			attrs := map[string]string{}
			for _, kv := range spans[0].Resource.Attributes() {
				attrs[string(kv.Key)] = kv.Value.String()
			}
			if attrs["service.name"] != component {
				t.Errorf("service.name = %q, want %q (the component wins over OTEL_SERVICE_NAME)", attrs["service.name"], component)
			}
			if attrs["deployment.environment"] != "test" {
				t.Errorf("OTEL_RESOURCE_ATTRIBUTES not applied: %v", attrs)
			}
		})
	}
}

func TestErrorsGoToTheLogger(t *testing.T) {
	var buf bytes.Buffer
	_, err := telemetry.Setup(t.Context(), telemetry.Config{
		Component: "gateway", SpanExporter: tracetest.NewInMemoryExporter(),
		Logger: slog.New(slog.NewJSONHandler(&buf, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	otel.Handle(errors.New("collector unreachable"))
	if !strings.Contains(buf.String(), "collector unreachable") || !strings.Contains(buf.String(), `"component":"gateway"`) {
		t.Errorf("log = %q, want the OpenTelemetry error as JSON", buf.String())
	}
}

func TestValidate(t *testing.T) {
	if _, err := telemetry.Setup(t.Context(), telemetry.Config{Component: " "}); err == nil {
		t.Error("Setup accepted an empty component")
	}
}

func TestSampler(t *testing.T) {
	tests := []struct {
		sampler     string
		arg         string
		wantSampled bool
	}{
		{"", "", true},
		{"always_off", "", false},
		{"traceidratio", "0", false},
		{"parentbased_always_on", "", true},
	}
	for _, tc := range tests {
		t.Run("sampler="+tc.sampler, func(t *testing.T) {
			t.Setenv("OTEL_TRACES_SAMPLER", tc.sampler)
			t.Setenv("OTEL_TRACES_SAMPLER_ARG", tc.arg)
			exp := tracetest.NewInMemoryExporter()
			p, err := telemetry.Setup(t.Context(), telemetry.Config{Component: "c", SpanExporter: exp})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = p.Shutdown(t.Context()) }()
			_, span := p.Tracer("t").Start(t.Context(), "op")
			span.End()
			if got := span.SpanContext().IsSampled(); got != tc.wantSampled {
				t.Errorf("sampled = %v, want %v", got, tc.wantSampled)
			}
			if !span.SpanContext().IsValid() {
				t.Error("span context invalid; trace ids must exist even when not sampled")
			}
			if n := len(exp.GetSpans()); (n == 1) != tc.wantSampled {
				t.Errorf("exported %d spans, want sampled=%v", n, tc.wantSampled)
			}
		})
	}
}

func TestPropagator(t *testing.T) {
	if _, err := telemetry.Setup(t.Context(), telemetry.Config{Component: "c", SpanExporter: tracetest.NewInMemoryExporter()}); err != nil {
		t.Fatal(err)
	}
	prop := otel.GetTextMapPropagator()
	fields := strings.Join(prop.Fields(), ",")
	for _, f := range []string{"traceparent", "baggage", "x-b3-traceid"} {
		if !strings.Contains(strings.ToLower(fields), f) {
			t.Errorf("global propagator fields %q lack %q", fields, f)
		}
	}

	traceID, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	spanID, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled})
	m, _ := baggage.NewMember("tenant", "acme")
	bag, _ := baggage.New(m)
	ctx := baggage.ContextWithBaggage(trace.ContextWithSpanContext(t.Context(), sc), bag)

	t.Run("inject", func(t *testing.T) {
		carrier := propagation.MapCarrier{}
		prop.Inject(ctx, carrier)
		want := map[string]string{
			"traceparent":  "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
			"baggage":      "tenant=acme",
			"x-b3-traceid": "4bf92f3577b34da6a3ce929d0e0e4736",
			"x-b3-spanid":  "00f067aa0ba902b7",
			"x-b3-sampled": "1",
		}
		for k, v := range want {
			if got := carrier.Get(k); got != v {
				t.Errorf("header %s = %q, want %q", k, got, v)
			}
		}
	})

	extract := []struct {
		name    string
		headers map[string]string
	}{
		{"w3c", map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}},
		{"b3 multi", map[string]string{"x-b3-traceid": "4bf92f3577b34da6a3ce929d0e0e4736", "x-b3-spanid": "00f067aa0ba902b7", "x-b3-sampled": "1"}},
		{"b3 single", map[string]string{"b3": "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1"}},
	}
	for _, tc := range extract {
		t.Run("extract "+tc.name, func(t *testing.T) {
			got := trace.SpanContextFromContext(prop.Extract(t.Context(), propagation.MapCarrier(tc.headers)))
			if got.TraceID() != traceID || got.SpanID() != spanID || !got.IsRemote() {
				t.Errorf("extracted %v/%v remote=%v, want %v/%v", got.TraceID(), got.SpanID(), got.IsRemote(), traceID, spanID)
			}
		})
	}
}

func TestEnvExporterSelection(t *testing.T) {
	tests := []struct {
		name          string
		env           map[string]string
		wantExporting bool
		wantErr       string
	}{
		{"no endpoint", nil, false, ""},
		{"grpc", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, true, ""},
		{"http default", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}, true, ""},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:1/v1/traces"}, true, ""},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "none"}, false, ""},
		{"sdk disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_SDK_DISABLED": "true"}, false, ""},
		{"http/json", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, false, `protocol "http/json" is not supported`},
		{"zipkin", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "zipkin"}, false, `OTEL_TRACES_EXPORTER "zipkin"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED"} {
				t.Setenv(k, tc.env[k])
			}
			p, err := telemetry.Setup(t.Context(), telemetry.Config{Component: "c"})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Setup error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			defer func() { _ = p.Shutdown(ctx) }()
			if p.Exporting != tc.wantExporting {
				t.Errorf("Exporting = %v, want %v", p.Exporting, tc.wantExporting)
			}
		})
	}
}

// traceSink collects OTLP export requests from either transport.
type traceSink struct {
	collectortrace.UnimplementedTraceServiceServer
	mu   sync.Mutex
	reqs []*collectortrace.ExportTraceServiceRequest
}

func (s *traceSink) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, req)
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func (s *traceSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	req := &collectortrace.ExportTraceServiceRequest{}
	if err != nil || r.URL.Path != "/v1/traces" || proto.Unmarshal(body, req) != nil {
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	_, _ = s.Export(r.Context(), req)
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

// exported returns (service.name, span name) pairs received.
func (s *traceSink) exported() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, req := range s.reqs {
		for _, rs := range req.GetResourceSpans() {
			svc := ""
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.GetKey() == "service.name" {
					svc = kv.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, sp := range ss.GetSpans() {
					out = append(out, svc+":"+sp.GetName())
				}
			}
		}
	}
	return out
}

// TestOTLPExport sends spans to a real OTLP receiver over both protocols.
func TestOTLPExport(t *testing.T) {
	tests := []struct {
		protocol string
		start    func(t *testing.T, sink *traceSink) string // returns the endpoint
	}{
		{"http/protobuf", func(t *testing.T, sink *traceSink) string {
			srv := httptest.NewServer(sink)
			t.Cleanup(srv.Close)
			return srv.URL
		}},
		{"grpc", func(t *testing.T, sink *traceSink) string {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := grpc.NewServer()
			collectortrace.RegisterTraceServiceServer(srv, sink)
			go func() { _ = srv.Serve(lis) }()
			t.Cleanup(srv.Stop)
			return "http://" + lis.Addr().String()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.protocol, func(t *testing.T) {
			sink := &traceSink{}
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", tc.start(t, sink))
			t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", tc.protocol)
			p, err := telemetry.Setup(t.Context(), telemetry.Config{Component: "orders"})
			if err != nil {
				t.Fatal(err)
			}
			_, span := p.Tracer("t").Start(t.Context(), "ship order")
			span.End()
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			if err := p.Shutdown(ctx); err != nil { // flushes the batch
				t.Fatalf("Shutdown: %v", err)
			}
			got := strings.Join(sink.exported(), ",")
			if got != "orders:ship order" {
				t.Errorf("receiver got spans %q, want orders:ship order", got)
			}
		})
	}
}

func TestRegistry(t *testing.T) {
	tests := []struct {
		name   string
		skip   bool
		wantGo bool
	}{
		{"with runtime metrics", false, true},
		{"without runtime metrics", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := telemetry.Setup(t.Context(), telemetry.Config{Component: "c", SpanExporter: tracetest.NewInMemoryExporter(), SkipRuntimeMetrics: tc.skip})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = p.Shutdown(t.Context()) }()
			// Two components' registries are independent.
			other, err := telemetry.Setup(t.Context(), telemetry.Config{Component: "d", SpanExporter: tracetest.NewInMemoryExporter()})
			if err != nil {
				t.Fatalf("second Setup in one process: %v", err)
			}
			defer func() { _ = other.Shutdown(t.Context()) }()

			rec := httptest.NewRecorder()
			p.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			if rec.Code != http.StatusOK {
				t.Fatalf("GET /metrics = %d", rec.Code)
			}
			body := rec.Body.String()
			for _, m := range []string{"go_goroutines", "process_cpu_seconds_total"} {
				if strings.Contains(body, m) != tc.wantGo {
					t.Errorf("metrics contain %s = %v, want %v", m, !tc.wantGo, tc.wantGo)
				}
			}
		})
	}
}
