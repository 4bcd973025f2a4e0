package ingest

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookmesh/hookmesh/gateway/internal/webhook"
)

// Registerer is where the handler registers its metrics (a *prometheus.Registry).
type Registerer = prometheus.Registerer

type metrics struct {
	requests *prometheus.CounterVec // nil when not registered
}

// outcomes are every code label value, resolved up front so the hot path does no
// label lookup.
var outcomes = []string{"accepted", "duplicate", "reply", "method_not_allowed", "body_unreadable",
	webhook.CodeMalformedJSON, webhook.CodeInvalidPayload, webhook.CodeMissingHeader, webhook.CodeMalformedHeader,
	webhook.CodeUnsupportedScheme, webhook.CodeTimestampExpired, webhook.CodeTimestampInFuture,
	webhook.CodeSignatureMismatch, webhook.CodeBodyTooLarge, webhook.CodeUnsupportedMediaType,
	webhook.CodeRateLimited, webhook.CodeLogUnavailable, webhook.CodeRequestTimeout, webhook.CodeOverCapacity}

// newMetrics registers the request counter and hookmesh_ingest_bodies_in_flight,
// read from inFlight when scraped.
func newMetrics(reg Registerer, inFlight func() float64) (*metrics, error) {
	m := &metrics{}
	if reg == nil {
		return m, nil
	}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookmesh_ingest_requests_total",
		Help: "Webhook requests by source and outcome (accepted, duplicate, or the error code).",
	}, []string{"source", "outcome"})
	if err := reg.Register(m.requests); err != nil {
		return nil, fmt.Errorf("register ingest metrics: %w", err)
	}
	gauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hookmesh_ingest_bodies_in_flight",
		Help: "Webhook requests reading or holding a body now (capped by the listener's max bodies in flight).",
	}, inFlight)
	if err := reg.Register(gauge); err != nil {
		return nil, fmt.Errorf("register ingest metrics: %w", err)
	}
	return m, nil
}

type routeCounters struct {
	byCode map[string]prometheus.Counter
	other  prometheus.Counter
}

func (m *metrics) route(source string) *routeCounters {
	if m.requests == nil {
		return nil
	}
	rc := &routeCounters{byCode: make(map[string]prometheus.Counter, len(outcomes))}
	for _, o := range outcomes {
		rc.byCode[o] = m.requests.WithLabelValues(source, o)
	}
	rc.other = m.requests.WithLabelValues(source, "other")
	return rc
}

func (rc *routeCounters) inc(outcome string) {
	if rc == nil {
		return
	}
	if c, ok := rc.byCode[outcome]; ok {
		c.Inc()
		return
	}
	rc.other.Inc()
}

func (m *metrics) unknown() {
	if m.requests != nil {
		m.requests.WithLabelValues("", webhook.CodeUnknownSource).Inc()
	}
}
