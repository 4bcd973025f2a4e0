package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/spanattr"
)

// appender is what ingest, publish and the scheduler append through.
type appender interface {
	Append(ctx context.Context, ev *eventv1.Event) (eventlog.AppendResult, error)
}

// Append results, the result label of the append metrics.
const (
	appendAccepted    = "accepted"
	appendDuplicate   = "duplicate"
	appendUnavailable = "unavailable"
	appendFull        = "full"
	appendInvalid     = "invalid"
	appendTooLarge    = "too_large"
	appendError       = "error"
)

var appendResults = []string{appendAccepted, appendDuplicate, appendUnavailable, appendFull, appendInvalid, appendTooLarge, appendError}

// observedLog traces and measures every append to the event log: a producer
// span (a child of the ingest, publish or scheduler span in ctx) and the
// append's latency and result.
type observedLog struct {
	log      appender
	tracer   trace.Tracer
	appends  *prometheus.CounterVec // nil without a registry
	duration map[string]prometheus.Observer
}

func newObservedLog(log appender, tp trace.TracerProvider, reg prometheus.Registerer) (*observedLog, error) {
	o := &observedLog{log: log, tracer: tp.Tracer("github.com/hookmesh/hookmesh/gateway/eventlog")}
	if reg == nil {
		return o, nil
	}
	o.appends = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookmesh_eventlog_appends_total",
		Help: "Appends to the event log by source and result (accepted, duplicate, unavailable, full, invalid, too_large, error).",
	}, []string{"source", "result"})
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hookmesh_eventlog_append_duration_seconds",
		Help:    "Time until the event log acknowledged (or refused) an append, by result.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"result"})
	if err := errors.Join(reg.Register(o.appends), reg.Register(hist)); err != nil {
		return nil, fmt.Errorf("register event log metrics: %w", err)
	}
	o.duration = make(map[string]prometheus.Observer, len(appendResults))
	for _, r := range appendResults {
		o.duration[r] = hist.WithLabelValues(r)
	}
	return o, nil
}

func (o *observedLog) Append(ctx context.Context, ev *eventv1.Event) (eventlog.AppendResult, error) {
	ctx, span := o.tracer.Start(ctx, "hookmesh.eventlog append", trace.WithSpanKind(trace.SpanKindProducer))
	defer span.End()
	t0 := time.Now()
	res, err := o.log.Append(ctx, ev)
	elapsed := time.Since(t0)
	result := appendResult(res, err)
	if o.appends != nil {
		o.duration[result].Observe(elapsed.Seconds())
		o.appends.WithLabelValues(ev.GetSource(), result).Inc()
	}
	if span.IsRecording() {
		span.SetAttributes(
			semconv.MessagingSystemKey.String(spanattr.MessagingSystem),
			semconv.MessagingOperationTypeSend,
			semconv.MessagingDestinationName(eventlog.SubjectRoot+"."+ev.GetSource()),
			spanattr.KeyAppendResult.String(result),
		)
		span.SetAttributes(spanattr.EventAttributes(ev.GetSource(), ev.GetId(), ev.GetType())...)
		if err != nil {
			span.SetStatus(codes.Error, result)
		}
	}
	return res, err
}

func appendResult(res eventlog.AppendResult, err error) string {
	switch {
	case err == nil && res.Duplicate:
		return appendDuplicate
	case err == nil:
		return appendAccepted
	case errors.Is(err, eventlog.ErrFull):
		return appendFull
	case errors.Is(err, eventlog.ErrUnavailable):
		return appendUnavailable
	case errors.Is(err, eventlog.ErrInvalid):
		return appendInvalid
	case errors.Is(err, eventlog.ErrTooLarge):
		return appendTooLarge
	}
	return appendError
}
