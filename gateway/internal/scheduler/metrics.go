package scheduler

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	ticks   *prometheus.CounterVec   // emitted by this replica (not duplicates)
	skipped *prometheus.CounterVec   // skipped after downtime, counted by the replica that recorded them
	late    *prometheus.HistogramVec // how late emitted ticks were
	oneOff  *prometheus.CounterVec   // one-off events by transition
	errors  *prometheus.CounterVec   // failed passes, retried
}

func newMetrics(reg prometheus.Registerer, schedules []Schedule) (*metrics, error) {
	m := &metrics{
		ticks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookmesh_schedule_ticks_total",
			Help: "Cron ticks this gateway appended to the event log, per schedule.",
		}, []string{"schedule"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookmesh_schedule_ticks_skipped_total",
			Help: "Cron ticks skipped because they were found more than the schedule's tolerance late (after downtime), per schedule; counted once across gateways.",
		}, []string{"schedule"}),
		late: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookmesh_schedule_tick_delay_seconds",
			Help:    "How long after its scheduled time a cron tick was appended.",
			Buckets: []float64{0.01, 0.1, 0.5, 1, 2, 5, 30, 60, 300, 1800, 3600, 21600},
		}, []string{"schedule"}),
		oneOff: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookmesh_scheduled_events_total",
			Help: "One-off scheduled events by what happened to them here: created, fired, cancelled or skipped (missed by more than their tolerance).",
		}, []string{"state"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookmesh_scheduler_errors_total",
			Help: "Scheduler steps that failed and are retried (event log or state bucket unavailable), by part.",
		}, []string{"part"}),
	}
	for _, s := range schedules {
		m.ticks.WithLabelValues(s.Name)
		m.skipped.WithLabelValues(s.Name)
	}
	for _, st := range []string{"created", stateFired, stateCancelled, stateSkipped} {
		m.oneOff.WithLabelValues(st)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.ticks, m.skipped, m.late, m.oneOff, m.errors} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("scheduler: metrics already registered (one scheduler per registry): %w", err)
			}
			return nil, fmt.Errorf("scheduler: register metrics: %w", err)
		}
	}
	return m, nil
}
