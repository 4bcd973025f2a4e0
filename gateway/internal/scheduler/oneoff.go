package scheduler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/spanattr"
)

// maxFireSteps bounds the compare-and-set attempts for one one-off event in a pass.
const maxFireSteps = 8

// oneOffRound fires or skips every due one-off event, oldest first, and returns when
// the next one comes due.
func (s *Scheduler) oneOffRound(ctx context.Context) time.Time {
	now := s.cfg.Clock.Now()
	wake := now.Add(s.cfg.Poll)
	type due struct {
		key string
		at  time.Time
	}
	var list []due
	for key, e := range s.entries {
		r := e.oneOff
		if r == nil || r.State != stateScheduled {
			continue
		}
		if f := r.Firing; f != nil && f.Owner != s.id && now.Before(f.Expires) {
			wake = earlier(wake, f.Expires)
			continue
		}
		if r.ScheduledTime.After(now) {
			wake = earlier(wake, r.ScheduledTime)
			continue
		}
		list = append(list, due{key, r.ScheduledTime})
	}
	slices.SortFunc(list, func(a, b due) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	for _, d := range list {
		if ctx.Err() != nil {
			break
		}
		if err := s.fireOne(ctx, d.key); err != nil {
			s.m.errors.WithLabelValues("one_off").Inc()
			s.cfg.Logger.WarnContext(ctx, "scheduler: one-off event not processed; retrying",
				"key", d.key, "error", err)
			wake = earlier(wake, s.cfg.Clock.Now().Add(s.cfg.Poll))
		}
	}
	return wake
}

// fireOne moves one due one-off event on: SCHEDULED → claimed (Firing) → appended →
// FIRED, or SCHEDULED → SKIPPED when it is later than its tolerance. Each move is a
// compare-and-set, so a concurrent cancel or another replica's claim wins or loses
// as a whole. Once claimed, an event is appended however late it gets and can no
// longer be cancelled.
func (s *Scheduler) fireOne(ctx context.Context, key string) error {
	for range maxFireSteps {
		now := s.cfg.Clock.Now()
		e := s.entries[key]
		if e == nil || e.oneOff == nil || e.oneOff.State != stateScheduled {
			return nil
		}
		r := *e.oneOff
		if f := r.Firing; f != nil {
			if f.Owner != s.id && now.Before(f.Expires) {
				return nil
			}
			if f.Owner != s.id || !now.Before(f.Expires) {
				r.Firing = &claim{Owner: s.id, Expires: now.Add(s.cfg.Lease)}
				if err := s.write(ctx, key, r, e.rev); err != nil && !errors.Is(err, errConflict) {
					return err
				}
				continue
			}
			if err := s.emitOneOff(ctx, &r, now); err != nil {
				return err
			}
			r.Firing, r.State, r.DoneTime = nil, stateFired, now.UTC()
			if err := s.write(ctx, key, r, e.rev); err != nil {
				if errors.Is(err, errConflict) {
					continue
				}
				return err
			}
			s.m.oneOff.WithLabelValues(stateFired).Inc()
			return nil
		}
		if now.Sub(r.ScheduledTime) > r.Tolerance {
			r.State, r.DoneTime = stateSkipped, now.UTC()
			if err := s.write(ctx, key, r, e.rev); err != nil {
				if errors.Is(err, errConflict) {
					continue
				}
				return err
			}
			s.m.oneOff.WithLabelValues(stateSkipped).Inc()
			s.cfg.Logger.WarnContext(ctx, "scheduled event skipped: later than its tolerance",
				"id", r.ID, "name", r.Name, "scheduled_time", r.ScheduledTime, "tolerance", r.Tolerance.String())
			return nil
		}
		r.Firing = &claim{Owner: s.id, Expires: now.Add(s.cfg.Lease)}
		if err := s.write(ctx, key, r, e.rev); err != nil && !errors.Is(err, errConflict) {
			return err
		}
	}
	return fmt.Errorf("%s kept changing", key)
}

// emitOneOff appends the event scheduled.<name> under a new root span linked to the
// request that created it.
func (s *Scheduler) emitOneOff(ctx context.Context, r *oneOffRecord, now time.Time) error {
	typ := "scheduled." + r.Name
	ctx, cancel := s.step(ctx)
	defer cancel()
	opts := []trace.SpanStartOption{
		trace.WithNewRoot(),
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			spanattr.KeyEventSource.String(SourceScheduled),
			spanattr.KeyEventID.String(r.ID),
			spanattr.KeyEventType.String(typ),
			spanattr.KeyScheduledTime.String(r.ScheduledTime.UTC().Format(time.RFC3339Nano)),
			attribute.Float64("hookmesh.late_seconds", now.Sub(r.ScheduledTime).Seconds()),
		),
	}
	if r.Traceparent != "" {
		created := propagation.TraceContext{}.Extract(context.Background(),
			propagation.MapCarrier{"traceparent": r.Traceparent, "tracestate": r.Tracestate})
		if sc := trace.SpanContextFromContext(created); sc.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
		}
	}
	ctx, span := s.tracer.Start(ctx, "scheduled event "+typ, opts...)
	defer span.End()

	sched := &eventv1.ScheduledEvent{
		Kind:          eventv1.ScheduledKind_SCHEDULED_KIND_ONE_OFF,
		Name:          r.Name,
		ScheduledTime: timestamppb.New(r.ScheduledTime),
		Comment:       r.Comment,
		CreatedAt:     timestamppb.New(r.CreateTime),
		Scheduler:     SchedulerName,
	}
	if len(r.Payload) > 0 {
		v := &structpb.Value{}
		if err := protojson.Unmarshal(r.Payload, v); err != nil {
			return fmt.Errorf("decode payload of %s: %w", r.ID, err)
		}
		sched.Payload = v
	}
	ev := &eventv1.Event{
		Id:           r.ID,
		Source:       SourceScheduled,
		Type:         typ,
		Subject:      r.Name,
		Time:         timestamppb.New(r.ScheduledTime),
		ReceivedTime: timestamppb.New(now),
		Payload:      &eventv1.Event_Scheduled{Scheduled: sched},
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	ev.Traceparent, ev.Tracestate = carrier["traceparent"], carrier["tracestate"]

	res, err := s.cfg.Log.Append(ctx, ev)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "append failed")
		return fmt.Errorf("append %s/%s: %w", SourceScheduled, r.ID, err)
	}
	span.SetAttributes(spanattr.KeyDuplicate.Bool(res.Duplicate))
	s.cfg.Logger.InfoContext(ctx, "scheduled event fired", "event_id", r.ID, "name", r.Name,
		"scheduled_time", r.ScheduledTime, "late", now.Sub(r.ScheduledTime).String(), "duplicate", res.Duplicate)
	return nil
}

// sweep deletes one-off events that ended more than Retention ago, once a minute.
func (s *Scheduler) sweep(ctx context.Context, now time.Time) {
	if now.Sub(s.lastSweep) < time.Minute {
		return
	}
	s.lastSweep = now
	deleted := 0
	for key, e := range s.entries {
		r := e.oneOff
		if r == nil || r.State == stateScheduled || r.DoneTime.IsZero() || now.Sub(r.DoneTime) <= s.cfg.Retention {
			continue
		}
		if ctx.Err() != nil {
			return
		}
		sctx, cancel := s.step(ctx)
		err := s.kv.Purge(sctx, key, jetstream.LastRevision(e.rev))
		cancel()
		switch {
		case err == nil:
			delete(s.entries, key)
			deleted++
		case isConflict(err):
			_ = s.refresh(ctx, key) // changed or gone meanwhile; look again next sweep
		default:
			s.cfg.Logger.WarnContext(ctx, "scheduler: cannot delete an old one-off event", "key", key, "error", err)
		}
	}
	if deleted > 0 {
		sctx, cancel := s.step(ctx)
		defer cancel()
		if err := s.kv.PurgeDeletes(sctx, jetstream.DeleteMarkersOlderThan(-1)); err != nil {
			s.cfg.Logger.WarnContext(ctx, "scheduler: cannot purge delete markers", "error", err)
		}
	}
}
