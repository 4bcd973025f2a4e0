package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookmesh/hookmesh/services/analytics/internal/analytics"
	"github.com/hookmesh/hookmesh/services/analytics/internal/grpcapi"
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

// countingRecorder counts the events the service tracked (stored), found
// already tracked, or could not store.
type countingRecorder struct {
	grpcapi.Recorder
	tracked, duplicate, failed prometheus.Counter
}

func newCountingRecorder(r grpcapi.Recorder, reg prometheus.Registerer) (*countingRecorder, error) {
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookmesh_analytics_events_total",
		Help: "Events submitted for tracking by result (tracked: stored now, duplicate: stored before, failed: not stored; the answer says whether to retry).",
	}, []string{"result"})
	if err := reg.Register(events); err != nil {
		return nil, fmt.Errorf("register analytics metrics: %w", err)
	}
	return &countingRecorder{Recorder: r,
		tracked:   events.WithLabelValues("tracked"),
		duplicate: events.WithLabelValues("duplicate"),
		failed:    events.WithLabelValues("failed"),
	}, nil
}

func (c *countingRecorder) Submit(ctx context.Context, rec analytics.Record) error {
	err := c.Recorder.Submit(ctx, rec)
	switch {
	case err == nil:
		c.tracked.Inc()
	case errors.Is(err, analytics.ErrDuplicate):
		c.duplicate.Inc()
	default:
		c.failed.Inc()
	}
	return err
}
