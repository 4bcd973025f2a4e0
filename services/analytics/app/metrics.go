package app

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// batchMetrics are the group committer's Prometheus metrics.
type batchMetrics struct {
	size     prometheus.Histogram
	duration prometheus.Histogram
	failed   prometheus.Counter
}

func newBatchMetrics(reg prometheus.Registerer) (*batchMetrics, error) {
	m := &batchMetrics{
		size: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hookmesh_analytics_batch_size", Help: "Events per group-commit transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hookmesh_analytics_batch_commit_seconds", Help: "Time to apply and commit one batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookmesh_analytics_batches_failed_total", Help: "Batches whose transaction failed as a whole (their events are retried).",
		}),
	}
	for _, c := range []prometheus.Collector{m.size, m.duration, m.failed} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register analytics metrics: %w", err)
		}
	}
	return m, nil
}

func (m *batchMetrics) observe(size int, elapsed time.Duration, err error) {
	m.size.Observe(float64(size))
	m.duration.Observe(elapsed.Seconds())
	if err != nil {
		m.failed.Inc()
	}
}
