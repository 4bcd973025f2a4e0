package gateway

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// fakeLog answers every append with res, err (the event log is the seam here).
type fakeLog struct {
	res eventlog.AppendResult
	err error
	ctx context.Context
}

func (f *fakeLog) Append(ctx context.Context, _ *eventv1.Event) (eventlog.AppendResult, error) {
	f.ctx = ctx
	return f.res, f.err
}

func TestObservedLog(t *testing.T) {
	tests := []struct {
		name   string
		res    eventlog.AppendResult
		err    error
		result string
	}{
		{"accepted", eventlog.AppendResult{Seq: 7}, nil, "accepted"},
		{"duplicate", eventlog.AppendResult{Duplicate: true, Seq: 7}, nil, "duplicate"},
		{"unavailable", eventlog.AppendResult{}, fmt.Errorf("append: %w", eventlog.ErrUnavailable), "unavailable"},
		{"full", eventlog.AppendResult{}, fmt.Errorf("append: %w", eventlog.ErrFull), "full"},
		{"invalid", eventlog.AppendResult{}, fmt.Errorf("append: %w", eventlog.ErrInvalid), "invalid"},
		{"too large", eventlog.AppendResult{}, fmt.Errorf("append: %w", eventlog.ErrTooLarge), "too_large"},
		{"other error", eventlog.AppendResult{}, fmt.Errorf("boom"), "error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
			reg := prometheus.NewRegistry()
			f := &fakeLog{res: tc.res, err: tc.err}
			o, err := newObservedLog(f, tp, reg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, parent := tp.Tracer("test").Start(t.Context(), "POST /hooks/hasura")
			ev := &eventv1.Event{Id: "e-1", Source: "hasura", Type: "hasura.public.users.insert"}
			res, err := o.Append(ctx, ev)
			parent.End()
			if res != tc.res || !errors.Is(err, tc.err) {
				t.Fatalf("Append = %v, %v; want the log's %v, %v", res, err, tc.res, tc.err)
			}
			if got := testutil.ToFloat64(o.appends.WithLabelValues("hasura", tc.result)); got != 1 {
				t.Errorf("appends{result=%s} = %v, want 1", tc.result, got)
			}
			if n := histogramCount(t, reg, "hookmesh_eventlog_append_duration_seconds", tc.result); n != 1 {
				t.Errorf("append duration{result=%s} count = %d, want 1", tc.result, n)
			}
			spans := exp.GetSpans().Snapshots()
			if len(spans) != 2 {
				t.Fatalf("%d spans, want append + parent", len(spans))
			}
			s := spans[0]
			if s.Name() != "hookmesh.eventlog append" || s.SpanKind() != trace.SpanKindProducer || s.Parent().SpanID() != parent.SpanContext().SpanID() {
				t.Errorf("span %q kind %v parent %s; want a producer child of %s", s.Name(), s.SpanKind(), s.Parent().SpanID(), parent.SpanContext().SpanID())
			}
			// The log appends inside the producer span.
			if trace.SpanContextFromContext(f.ctx).SpanID() != s.SpanContext().SpanID() {
				t.Error("the log did not get the producer span's context")
			}
			attrs := map[string]string{}
			for _, kv := range s.Attributes() {
				attrs[string(kv.Key)] = kv.Value.String()
			}
			if attrs["hookmesh.append.result"] != tc.result || attrs["messaging.destination.name"] != "hookmesh.events.hasura" || attrs["hookmesh.event.id"] != "e-1" {
				t.Errorf("span attributes %v", attrs)
			}
			if failed := s.Status().Code.String() == "Error"; failed != (tc.err != nil) {
				t.Errorf("span status %v for err %v", s.Status(), tc.err)
			}
		})
	}
}

// Without a registry nothing is registered and appends still work.
func TestObservedLogWithoutRegistry(t *testing.T) {
	o, err := newObservedLog(&fakeLog{}, sdktrace.NewTracerProvider(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Append(t.Context(), &eventv1.Event{Id: "x", Source: "s"}); err != nil {
		t.Fatal(err)
	}
}

func TestObservedLogRegisterConflict(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := newObservedLog(&fakeLog{}, sdktrace.NewTracerProvider(), reg); err != nil {
		t.Fatal(err)
	}
	if _, err := newObservedLog(&fakeLog{}, sdktrace.NewTracerProvider(), reg); err == nil {
		t.Fatal("second registration on the same registry succeeded")
	}
}

// histogramCount is the sample count of the histogram series name{result=result}.
func histogramCount(t *testing.T, reg *prometheus.Registry, name, result string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}
