package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/spanattr"
)

// maxSteps bounds the claims one schedule gets per pass, so a long catch-up does not
// hold up one-off events; the pass after continues at once.
const maxSteps = 64

// TickID is the event id of a tick: every replica derives the same one.
func TickID(name string, scheduled time.Time) string {
	return name + "@" + scheduled.UTC().Format(time.RFC3339)
}

// cronRound emits or skips the due ticks of one schedule and returns when its next
// one comes due (or when another replica's claim expires).
//
// Per tick: claim it in cron.<name> (compare-and-set, with a lease), append it, then
// advance Last and drop the claim. A tick already claimed by a live replica is left
// to it; an expired claim is taken over and its tick appended again (the log drops
// the duplicate if the first owner got that far). A tick claimed is always appended,
// however late; the tolerance is checked when claiming. Ticks more than the
// tolerance late are skipped in one compare-and-set that also records them.
func (s *Scheduler) cronRound(ctx context.Context, sc *schedule) (time.Time, error) {
	for range maxSteps {
		now := s.cfg.Clock.Now()
		e := s.entries[sc.key]
		if e == nil && ctx.Err() != nil {
			return now, nil
		}
		if e == nil {
			// First run of this schedule: ticks from now on; nothing before it existed.
			if err := s.write(ctx, sc.key, cronState{Last: now.UTC()}, 0); err != nil && !errors.Is(err, errConflict) {
				return now, err
			}
			continue
		}
		st, err := decodeCron(e)
		if err != nil {
			return now, fmt.Errorf("schedule %s: %w", sc.Name, err)
		}

		if c := st.Inflight; c != nil {
			if c.Owner != s.id && now.Before(c.Expires) {
				return c.Expires, nil // another replica is emitting it
			}
			if c.Owner != s.id || !now.Before(c.Expires) {
				if ctx.Err() != nil {
					return now, nil
				}
				st.Inflight = &claim{Tick: c.Tick, Owner: s.id, Expires: now.Add(s.cfg.Lease)}
				if err := s.write(ctx, sc.key, st, e.rev); err != nil && !errors.Is(err, errConflict) {
					return now, err
				}
				continue
			}
			if err := s.emitTick(ctx, sc, c.Tick, now); err != nil {
				return now, err // the claim stays; retried next pass, by anyone once it expires
			}
			st.Inflight = nil
			if c.Tick.After(st.Last) {
				st.Last = c.Tick
			}
			st.LastEmitted = c.Tick
			if err := s.write(ctx, sc.key, st, e.rev); err != nil && !errors.Is(err, errConflict) {
				return now, err
			}
			continue
		}

		if ctx.Err() != nil {
			return now, nil // stopping: claim nothing new (a claim of ours was finished above)
		}
		next := sc.expr.Next(st.Last, sc.loc)
		if next.IsZero() {
			return now.Add(24 * time.Hour), fmt.Errorf("schedule %s: %q has no next tick", sc.Name, sc.Cron)
		}
		if next.After(now) {
			return next, nil
		}
		if now.Sub(next) > sc.Tolerance {
			run := skipRun{First: next.UTC(), Last: next.UTC(), Count: 1, At: now.UTC(), Tolerance: sc.Tolerance}
			for {
				t := sc.expr.Next(run.Last, sc.loc)
				if t.IsZero() || now.Sub(t) <= sc.Tolerance {
					break
				}
				run.Last, run.Count = t.UTC(), run.Count+1
			}
			st.Last = run.Last
			st.SkippedTotal += run.Count
			st.Skips = append(st.Skips, run)
			if len(st.Skips) > maxSkipRuns {
				st.Skips = st.Skips[len(st.Skips)-maxSkipRuns:]
			}
			if err := s.write(ctx, sc.key, st, e.rev); err != nil {
				if errors.Is(err, errConflict) {
					continue
				}
				return now, err
			}
			s.m.skipped.WithLabelValues(sc.Name).Add(float64(run.Count))
			s.cfg.Logger.WarnContext(ctx, "schedule ticks skipped: later than the tolerance",
				"schedule", sc.Name, "count", run.Count, "first", run.First, "last", run.Last, "tolerance", sc.Tolerance.String())
			continue
		}
		st.Inflight = &claim{Tick: next.UTC(), Owner: s.id, Expires: now.Add(s.cfg.Lease)}
		if err := s.write(ctx, sc.key, st, e.rev); err != nil && !errors.Is(err, errConflict) {
			return now, err
		}
	}
	return s.cfg.Clock.Now(), nil
}

// emitTick appends the event of one tick under a new root span.
func (s *Scheduler) emitTick(ctx context.Context, sc *schedule, tick, now time.Time) error {
	id := TickID(sc.Name, tick)
	typ := "cron." + sc.Name
	ctx, cancel := s.step(ctx)
	defer cancel()
	ctx, span := s.tracer.Start(ctx, "schedule tick "+typ,
		trace.WithNewRoot(),
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			spanattr.KeySchedule.String(sc.Name),
			spanattr.KeyEventSource.String(SourceCron),
			spanattr.KeyEventID.String(id),
			spanattr.KeyEventType.String(typ),
			spanattr.KeyScheduledTime.String(tick.UTC().Format(time.RFC3339)),
			attribute.Float64("hookmesh.late_seconds", now.Sub(tick).Seconds()),
		))
	defer span.End()

	ev := &eventv1.Event{
		Id:           id,
		Source:       SourceCron,
		Type:         typ,
		Subject:      sc.Name,
		Time:         timestamppb.New(tick),
		ReceivedTime: timestamppb.New(now),
		Payload: &eventv1.Event_Scheduled{Scheduled: &eventv1.ScheduledEvent{
			Kind:          eventv1.ScheduledKind_SCHEDULED_KIND_CRON,
			Name:          sc.Name,
			ScheduledTime: timestamppb.New(tick),
			Payload:       sc.Payload,
			Scheduler:     SchedulerName,
		}},
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	ev.Traceparent, ev.Tracestate = carrier["traceparent"], carrier["tracestate"]

	res, err := s.cfg.Log.Append(ctx, ev)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "append failed")
		return fmt.Errorf("append %s/%s: %w", SourceCron, id, err)
	}
	span.SetAttributes(spanattr.KeyDuplicate.Bool(res.Duplicate))
	if !res.Duplicate {
		s.m.ticks.WithLabelValues(sc.Name).Inc()
		s.m.late.WithLabelValues(sc.Name).Observe(max(now.Sub(tick).Seconds(), 0))
	}
	s.cfg.Logger.InfoContext(ctx, "schedule tick emitted", "schedule", sc.Name, "event_id", id,
		"scheduled_time", tick.UTC(), "late", now.Sub(tick).String(), "duplicate", res.Duplicate)
	return nil
}

// maybeHook starts sc's OnTick function for the newest emitted tick this process has
// not run it for, if that tick is within the tolerance and no earlier call is running.
func (s *Scheduler) maybeHook(ctx context.Context, sc *schedule) {
	if sc.hook == nil || ctx.Err() != nil {
		return
	}
	e := s.entries[sc.key]
	if e == nil {
		return
	}
	st, err := decodeCron(e)
	if err != nil || st.LastEmitted.IsZero() || !st.LastEmitted.After(sc.hookDone) {
		return
	}
	if s.cfg.Clock.Now().Sub(st.LastEmitted) > sc.Tolerance {
		sc.hookDone = st.LastEmitted
		return
	}
	if !sc.hookBusy.CompareAndSwap(false, true) {
		return // the next pass tries again
	}
	tick := st.LastEmitted
	sc.hookDone = tick
	s.hooks.Add(1)
	go func() {
		defer s.hooks.Done()
		defer sc.hookBusy.Store(false)
		defer func() {
			if r := recover(); r != nil {
				s.cfg.Logger.ErrorContext(ctx, "schedule hook panicked", "schedule", sc.Name, "panic", fmt.Sprint(r))
			}
		}()
		sc.hook(ctx, tick)
	}()
}
