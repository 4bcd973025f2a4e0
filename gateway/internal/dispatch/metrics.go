package dispatch

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
)

// Delivery outcomes counted in hookmesh_dispatch_deliveries_total.
const (
	outcomeDelivered   = "delivered"
	outcomeRetry       = "retry"
	outcomeDead        = "dead"
	outcomeFiltered    = "filtered"
	outcomeFilterError = "filter_error"
	outcomeShutdown    = "shutdown"
)

// Reasons counted in hookmesh_dispatch_replay_skipped_total.
const skipUndecodable = "undecodable"

type metrics struct {
	deliveries *prometheus.CounterVec
	attempt    *prometheus.HistogramVec
	lag        *prometheus.HistogramVec
	retries    *prometheus.CounterVec
	// redeliveries counts event messages JetStream handed out again (delivery
	// count > 1): an earlier delivery went unacknowledged.
	redeliveries *prometheus.CounterVec
	// replaySkipped counts messages a bulk replay leaves out, by reason.
	replaySkipped *prometheus.CounterVec
	deadLetters   *prometheus.CounterVec
	inFlight      *prometheus.GaugeVec
	backlog       *prometheus.GaugeVec
	oldest        *prometheus.GaugeVec
	// batchEvents is the size of each DeliverBatch call; batchFallback is 1
	// while a subscription's target answers it UNIMPLEMENTED.
	batchEvents   *prometheus.HistogramVec
	batchFallback *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookmesh_dispatch_deliveries_total",
			Help: "Handled deliveries by subscription and outcome (delivered, retry, dead, filtered, filter_error, shutdown).",
		}, []string{"subscription", "outcome"}),
		attempt: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookmesh_dispatch_attempt_duration_seconds",
			Help:    "Duration of one Deliver call by subscription and gRPC code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"subscription", "code"}),
		lag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookmesh_dispatch_delivery_lag_seconds",
			Help:    "From the log receiving an event to the consumer accepting it, by subscription.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30, 60, 300, 1800, 3600},
		}, []string{"subscription"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookmesh_dispatch_retries_total",
			Help: "Retries parked, by subscription.",
		}, []string{"subscription"}),
		redeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookmesh_dispatch_redeliveries_total",
			Help: "Events JetStream delivered to the subscription again because an earlier delivery went unacknowledged (ack wait passed after a crash or failover, or a stopping gateway returned it); parked retries are not counted.",
		}, []string{"subscription"}),
		replaySkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookmesh_dispatch_replay_skipped_total",
			Help: "Messages a bulk replay left out, by reason (undecodable), counted once per job.",
		}, []string{"reason"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookmesh_dispatch_dead_letters_total",
			Help: "Dead letters written, by subscription and reason (exhausted, terminal).",
		}, []string{"subscription", "reason"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hookmesh_dispatch_in_flight",
			Help: "Attempts running in this process, by subscription.",
		}, []string{"subscription"}),
		backlog: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hookmesh_dispatch_backlog",
			Help: "Messages not yet handled (event consumer pending + unacked, plus parked retries and replays), by subscription.",
		}, []string{"subscription"}),
		oldest: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hookmesh_dispatch_oldest_undelivered_age_seconds",
			Help: "Age of the oldest event not yet handled, by subscription (0 when none).",
		}, []string{"subscription"}),
		batchEvents: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookmesh_dispatch_batch_events",
			Help:    "Events in one DeliverBatch call, by subscription.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024},
		}, []string{"subscription"}),
		batchFallback: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hookmesh_dispatch_batch_fallback",
			Help: "1 while the subscription's target answers DeliverBatch UNIMPLEMENTED and gets one Deliver call per event.",
		}, []string{"subscription"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.deliveries, m.attempt, m.lag, m.retries, m.redeliveries, m.replaySkipped, m.deadLetters, m.inFlight, m.backlog, m.oldest, m.batchEvents, m.batchFallback} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("register dispatch metrics (one registry per dispatcher): %w", err)
			}
			return nil, fmt.Errorf("register dispatch metrics: %w", err)
		}
	}
	return m, nil
}

// healthNames are the health label values, by adminv1.SubscriptionHealth.
var healthNames = []struct {
	h    adminv1.SubscriptionHealth
	name string
}{
	{adminv1.SubscriptionHealth_SUBSCRIPTION_HEALTH_UNSPECIFIED, "unknown"},
	{adminv1.SubscriptionHealth_SUBSCRIPTION_HEALTH_HEALTHY, "healthy"},
	{adminv1.SubscriptionHealth_SUBSCRIPTION_HEALTH_DEGRADED, "degraded"},
	{adminv1.SubscriptionHealth_SUBSCRIPTION_HEALTH_UNHEALTHY, "unhealthy"},
}

var healthDesc = prometheus.NewDesc("hookmesh_dispatch_subscription_health",
	"1 for the subscription's current health (unknown, healthy, degraded, unhealthy; as GET /v1/subscriptions), 0 for the others.",
	[]string{"subscription", "health"}, nil)

// healthCollector reads every subscription's health at scrape time, so the
// delivery path pays nothing for it.
type healthCollector struct{ workers []*worker }

func (c healthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- healthDesc }

func (c healthCollector) Collect(ch chan<- prometheus.Metric) {
	for _, w := range c.workers {
		cur, _ := w.health.value()
		for _, hn := range healthNames {
			v := 0.0
			if hn.h == cur {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(healthDesc, prometheus.GaugeValue, v, w.sub.Name, hn.name)
		}
	}
}
