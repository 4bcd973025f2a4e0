package scheduler

import (
	"context"
	"fmt"
	"time"
)

// ScheduleStatus is what an operator wants to know about a cron schedule (for the
// console and logs; the REST API shows skipped ticks through ListScheduledEvents).
type ScheduleStatus struct {
	Name      string
	Cron      string // normal form
	Timezone  string // "" is UTC
	Tolerance time.Duration
	// LastTick is the newest processed tick (emitted or skipped); zero before the
	// schedule first ran.
	LastTick time.Time
	// LastEmitted is the newest tick appended to the log.
	LastEmitted time.Time
	// NextTick is when the next tick is due.
	NextTick time.Time
	// SkippedTotal counts every tick skipped after downtime, across gateways.
	SkippedTotal int64
	// Skips are the newest runs of skipped ticks, oldest first.
	Skips []SkipRun
}

// SkipRun is a run of consecutive ticks skipped at once.
type SkipRun struct {
	First, Last time.Time // first and last skipped tick
	Count       int64
	At          time.Time // when the skip was decided
}

// Schedules reports every configured schedule, in config order, from the shared
// state (so every gateway reports the same).
func (s *Scheduler) Schedules(ctx context.Context) ([]ScheduleStatus, error) {
	snap, err := s.snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	now := s.cfg.Clock.Now()
	out := make([]ScheduleStatus, 0, len(s.schedules))
	for _, sc := range s.schedules {
		st := ScheduleStatus{Name: sc.Name, Cron: sc.expr.String(), Timezone: sc.Timezone, Tolerance: sc.Tolerance}
		from := now
		if e := snap[sc.key]; e != nil {
			cs, err := decodeCron(e)
			if err != nil {
				return nil, fmt.Errorf("scheduler: schedule %s: %w", sc.Name, err)
			}
			st.LastTick, st.LastEmitted, st.SkippedTotal = cs.Last, cs.LastEmitted, cs.SkippedTotal
			for _, r := range cs.Skips {
				st.Skips = append(st.Skips, SkipRun{First: r.First, Last: r.Last, Count: r.Count, At: r.At})
			}
			from = cs.Last
			if cs.Inflight != nil {
				st.NextTick = cs.Inflight.Tick
			}
		}
		if st.NextTick.IsZero() {
			st.NextTick = sc.expr.Next(from, sc.loc)
		}
		out = append(out, st)
	}
	return out, nil
}
