package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// A replay request is a message on hookmesh.replay.<subscription> (RetryStream)
// carrying the event; the subscription's retry consumer delivers it as attempt 1
// of a new cycle with the replay flag set, bounded by the same retry policy.

// ReplayEvent queues one event again, to the named subscriptions or to every
// subscription it was routed to (not filtered out). Open dead letters of the
// event for those subscriptions are closed as "replayed".
//
// source may be "" when the id's delivery states name one source. It returns the
// subscriptions the event was queued to.
func (d *Dispatcher) ReplayEvent(ctx context.Context, source, id string, subs []string) ([]string, error) {
	if id == "" {
		return nil, invalid("id is required")
	}
	for _, name := range subs {
		if _, err := d.worker(name); err != nil {
			return nil, err
		}
	}
	if source == "" {
		var err error
		if source, err = d.sourceOf(ctx, id); err != nil {
			return nil, err
		}
	}
	recs, seq, err := d.records(ctx, source, id)
	if err != nil {
		return nil, unavailable(err, "replay")
	}
	ev, data, err := d.loadEvent(ctx, source, id, seq)
	if err != nil {
		return nil, err
	}
	targets := subs
	if len(targets) == 0 {
		if targets, err = d.replayTargets(ev, recs); err != nil {
			return nil, internal(err, "replay")
		}
	}
	for _, name := range targets {
		// Before queueing: the replay may finish before this call returns.
		if err := d.beforeReplay(ctx, name, source, id, recs[name]); err != nil {
			return nil, unavailable(err, "replay to "+name)
		}
		if err := d.queueReplay(ctx, name, ev, data, seq, ""); err != nil {
			return nil, unavailable(err, "replay to "+name)
		}
	}
	return targets, nil
}

// records reads the event's delivery state of every subscription, and the
// event's sequence as they recorded it (0 when none did).
func (d *Dispatcher) records(ctx context.Context, source, id string) (map[string]*record, uint64, error) {
	recs := map[string]*record{}
	var seq uint64
	for _, w := range d.workers {
		rec, err := d.st.get(ctx, stateKey(source, id, w.sub.Name))
		if err != nil {
			return nil, 0, err
		}
		if rec != nil {
			recs[w.sub.Name] = rec
			seq = max(seq, rec.Seq)
		}
	}
	return recs, seq, nil
}

// replayTargets are the subscriptions the event went to: those that recorded a
// state other than FILTERED, and those without a state that route it now.
func (d *Dispatcher) replayTargets(ev *eventv1.Event, recs map[string]*record) ([]string, error) {
	evMap, err := eventMap(ev)
	if err != nil {
		return nil, err
	}
	var targets []string
	for _, w := range d.workers {
		rec := recs[w.sub.Name]
		if rec != nil && rec.State != adminv1.DeliveryState_DELIVERY_STATE_FILTERED ||
			rec == nil && w.routes(ev, evMap) {
			targets = append(targets, w.sub.Name)
		}
	}
	return targets, nil
}

// routes reports whether ev goes to w: its type matches and the filter selects it.
func (w *worker) routes(ev *eventv1.Event, evMap map[string]any) bool {
	if !w.globs.match(ev.GetType()) {
		return false
	}
	if w.filter == nil {
		return true
	}
	ok, _ := w.filter.match(evMap)
	return ok
}

// sourceOf finds the source of an event id from its delivery states.
func (d *Dispatcher) sourceOf(ctx context.Context, id string) (string, error) {
	lister, err := d.l.states.ListKeysFiltered(ctx, "*."+b64.EncodeToString([]byte(id))+".*")
	if err != nil {
		return "", unavailable(err, "find event")
	}
	sources := map[string]bool{}
	for k := range lister.Keys() {
		enc, _, _ := strings.Cut(k, ".")
		if src, err := b64.DecodeString(enc); err == nil {
			sources[string(src)] = true
		}
	}
	switch len(sources) {
	case 0:
		return "", notFound("event %q has no deliveries; give its source to replay it", id)
	case 1:
		for s := range sources {
			return s, nil
		}
	}
	names := make([]string, 0, len(sources))
	for s := range sources {
		names = append(names, s)
	}
	return "", conflict("event id %q exists in several sources (%s); give its source", id, strings.Join(names, ", "))
}

// loadEvent reads the event from the log by sequence, else through Config.Events.
func (d *Dispatcher) loadEvent(ctx context.Context, source, id string, seq uint64) (*eventv1.Event, []byte, error) {
	if seq != 0 {
		raw, err := d.l.events.GetMsg(ctx, seq)
		if err == nil {
			ev := &eventv1.Event{}
			if proto.Unmarshal(raw.Data, ev) == nil && ev.GetSource() == source && ev.GetId() == id {
				return ev, raw.Data, nil
			}
		} else if !errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, nil, unavailable(err, "read event")
		}
	}
	if d.cfg.Events != nil {
		ev, _, err := d.cfg.Events.Get(ctx, source, id)
		if err == nil && ev != nil {
			data, err := proto.Marshal(ev)
			if err != nil {
				return nil, nil, internal(err, "marshal event")
			}
			return ev, data, nil
		}
		if err != nil && !errors.Is(err, eventlog.ErrNotFound) {
			return nil, nil, unavailable(err, "read event")
		}
	}
	return nil, nil, notFound("event %s/%s not found in the log", source, id)
}

// queueReplay publishes a replay request; msgID (optional) makes it idempotent.
func (d *Dispatcher) queueReplay(ctx context.Context, sub string, ev *eventv1.Event, data []byte, seq uint64, msgID string) error {
	m := nats.NewMsg(d.l.replaySubject(sub))
	m.Data = data
	m.Header.Set(hdrType, ev.GetType())
	m.Header.Set(hdrReplay, "1")
	m.Header.Set(hdrAttempt, "1")
	m.Header.Set(hdrSeq, strconv.FormatUint(seq, 10))
	if ev.GetReceivedTime() != nil {
		m.Header.Set(hdrReceived, ev.GetReceivedTime().AsTime().UTC().Format(time.RFC3339Nano))
	}
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	if _, err := d.js.PublishMsg(ctx, m, opts...); err != nil {
		return fmt.Errorf("publish replay request: %w", err)
	}
	return nil
}

// beforeReplay closes the delivery's open dead letter and shows it as pending again.
func (d *Dispatcher) beforeReplay(ctx context.Context, sub, source, id string, rec *record) error {
	if rec == nil {
		return nil
	}
	if rec.State == adminv1.DeliveryState_DELIVERY_STATE_DEAD && rec.DeadID != "" {
		raw, open, err := d.findDeadLetter(ctx, rec.DeadID)
		if err != nil {
			return err
		}
		if open {
			if _, err := d.closeDeadLetter(ctx, raw, resolutionReplayed); err != nil {
				return err
			}
		}
	}
	rec.State = adminv1.DeliveryState_DELIVERY_STATE_PENDING
	rec.Next = time.Time{}
	rec.Updated = d.now()
	return d.st.put(ctx, stateKey(source, id, sub), rec)
}
