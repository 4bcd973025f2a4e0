package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hookmesh/hookmesh/gateway/internal/config"
	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// ListSubscriptions lists the configured subscriptions in config order with their
// live state. Backlog counts the event consumer's pending and unacknowledged
// messages (all types: other types are skipped quickly) plus parked retries and
// replays; delivered counts this process's deliveries since start; health is this
// process's last check and delivery outcome.
func (d *Dispatcher) ListSubscriptions(ctx context.Context) ([]*adminv1.Subscription, error) {
	var out []*adminv1.Subscription
	for _, w := range d.workers {
		s, err := d.view(ctx, w)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// PauseSubscription stops deliveries of a subscription on every gateway; its
// backlog is kept. In-flight attempts finish.
func (d *Dispatcher) PauseSubscription(ctx context.Context, name string) (*adminv1.Subscription, error) {
	w, err := d.worker(name)
	if err != nil {
		return nil, err
	}
	if _, err := d.l.control.Put(ctx, pausePrefix+w.sub.Name, []byte(d.now().UTC().Format(time.RFC3339Nano))); err != nil {
		return nil, unavailable(err, "pause")
	}
	return d.view(ctx, w)
}

// ResumeSubscription restarts deliveries of a paused subscription on every gateway.
func (d *Dispatcher) ResumeSubscription(ctx context.Context, name string) (*adminv1.Subscription, error) {
	w, err := d.worker(name)
	if err != nil {
		return nil, err
	}
	if err := d.l.control.Delete(ctx, pausePrefix+w.sub.Name); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, unavailable(err, "resume")
	}
	return d.view(ctx, w)
}

func (d *Dispatcher) worker(name string) (*worker, error) {
	if name == "" {
		return nil, invalid("name is required")
	}
	w := d.byName[name]
	if w == nil {
		return nil, notFound("subscription %q not found", name)
	}
	return w, nil
}

func (d *Dispatcher) paused(ctx context.Context, name string) (bool, error) {
	_, err := d.l.control.Get(ctx, pausePrefix+name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read pause flag: %w", err)
	}
	return true, nil
}

func (d *Dispatcher) view(ctx context.Context, w *worker) (*adminv1.Subscription, error) {
	paused, err := d.paused(ctx, w.sub.Name)
	if err != nil {
		return nil, unavailable(err, "subscription "+strconv.Quote(w.sub.Name))
	}
	backlog, oldest, err := d.backlog(ctx, w)
	if err != nil {
		return nil, unavailable(err, "subscription "+strconv.Quote(w.sub.Name))
	}
	open, err := d.openDeadLetters(ctx, w.sub.Name)
	if err != nil {
		return nil, unavailable(err, "subscription "+strconv.Quote(w.sub.Name))
	}
	s := &adminv1.Subscription{
		Name:        w.sub.Name,
		Target:      w.sub.Target,
		Events:      append([]string(nil), w.sub.Events...),
		Filter:      w.sub.Filter,
		Paused:      paused,
		Backlog:     backlog,
		Delivered:   w.delivered.Load(),
		DeadLetters: open,
	}
	// backlog just refreshed the cached info (a concurrent stats refresh only
	// makes it newer).
	if ci := w.events.CachedInfo(); ci != nil {
		backfill(s, ci)
	}
	if !oldest.IsZero() {
		s.OldestUndeliveredAge = durationpb.New(max(d.now().Sub(oldest), 0))
	}
	h, at := w.health.value()
	s.Health = h
	if !at.IsZero() {
		s.HealthCheckTime = timestamppb.New(at)
	}
	return s, nil
}

// backfill fills s's start position and backfill progress from the event
// consumer's metadata (written when it was created) and ack floor.
func backfill(s *adminv1.Subscription, ci *jetstream.ConsumerInfo) {
	s.StartFrom = ci.Config.Metadata[metaStartFrom]
	if s.StartFrom == "" {
		s.StartFrom = config.StartFromNew
	}
	s.AckedThrough = ci.AckFloor.Stream
	s.BackfillThrough, _ = strconv.ParseUint(ci.Config.Metadata[metaBackfillThrough], 10, 64)
	// A log ending in messages the consumer's filter skips leaves the ack floor
	// below backfill_through with nothing left to deliver.
	s.Backfilling = s.AckedThrough < s.BackfillThrough && ci.NumPending+uint64(ci.NumAckPending) > 0
}

// backlog returns the messages of w not yet handled and the receive time of the
// oldest of them (zero when none).
func (d *Dispatcher) backlog(ctx context.Context, w *worker) (int64, time.Time, error) {
	var oldest time.Time
	older := func(t time.Time) {
		if !t.IsZero() && (oldest.IsZero() || t.Before(oldest)) {
			oldest = t
		}
	}
	ei, err := w.events.Info(ctx)
	if err != nil {
		return 0, oldest, fmt.Errorf("event consumer info: %w", err)
	}
	n := int64(ei.NumPending) + int64(ei.NumAckPending)
	if n > 0 {
		raw, err := d.l.events.GetMsg(ctx, ei.AckFloor.Stream+1, jetstream.WithGetMsgSubject(d.l.eventsAll()))
		if err == nil {
			older(raw.Time)
		} else if !errors.Is(err, jetstream.ErrMsgNotFound) {
			return 0, oldest, fmt.Errorf("oldest event: %w", err)
		}
	}
	ri, err := w.retry.Info(ctx)
	if err != nil {
		return 0, oldest, fmt.Errorf("retry consumer info: %w", err)
	}
	parked := int64(ri.NumPending) + int64(ri.NumAckPending)
	if parked > 0 {
		for _, subj := range []string{d.l.retrySubject(w.sub.Name), d.l.replaySubject(w.sub.Name)} {
			raw, err := d.l.retry.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subj))
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				return 0, oldest, fmt.Errorf("oldest retry: %w", err)
			}
			if t, err := time.Parse(time.RFC3339Nano, raw.Header.Get(hdrReceived)); err == nil {
				older(t)
			} else {
				older(raw.Time)
			}
		}
	}
	return n + parked, oldest, nil
}

func (d *Dispatcher) openDeadLetters(ctx context.Context, sub string) (int64, error) {
	info, err := d.l.dlq.Info(ctx, jetstream.WithSubjectFilter(d.l.dlqSubject(sub, "open", "*")))
	if err != nil {
		return 0, fmt.Errorf("dead-letter stream info: %w", err)
	}
	var n int64
	for _, c := range info.State.Subjects {
		n += int64(c)
	}
	return n, nil
}

func (d *Dispatcher) statsLoop(ctx context.Context) {
	t := time.NewTicker(d.cfg.StatsInterval)
	defer t.Stop()
	for {
		for _, w := range d.workers {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			n, oldest, err := d.backlog(cctx, w)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					d.log.Debug("refresh backlog", "subscription", w.sub.Name, "error", err)
				}
				continue
			}
			d.m.backlog.WithLabelValues(w.sub.Name).Set(float64(n))
			age := 0.0
			if !oldest.IsZero() {
				age = max(d.now().Sub(oldest).Seconds(), 0)
			}
			d.m.oldest.WithLabelValues(w.sub.Name).Set(age)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Deliveries is the state of ev per subscription, in config order: one entry per
// subscription whose globs match its type (FILTERED when its filter did not select
// it, PENDING when it is routed and not attempted yet), plus any subscription that
// recorded a state for it.
func (d *Dispatcher) Deliveries(ctx context.Context, ev *eventv1.Event) ([]*adminv1.Delivery, error) {
	var out []*adminv1.Delivery
	var evMap map[string]any
	for _, w := range d.workers {
		rec, err := d.st.get(ctx, stateKey(ev.GetSource(), ev.GetId(), w.sub.Name))
		if err != nil {
			return nil, unavailable(err, "deliveries")
		}
		if rec != nil {
			out = append(out, rec.delivery(w.sub.Name))
			continue
		}
		if !w.globs.match(ev.GetType()) {
			continue
		}
		state := adminv1.DeliveryState_DELIVERY_STATE_PENDING
		if w.filter != nil {
			if evMap == nil {
				if evMap, err = eventMap(ev); err != nil {
					return nil, internal(err, "deliveries")
				}
			}
			if ok, _ := w.filter.match(evMap); !ok {
				state = adminv1.DeliveryState_DELIVERY_STATE_FILTERED
			}
		}
		out = append(out, &adminv1.Delivery{Subscription: w.sub.Name, State: state})
	}
	return out, nil
}
