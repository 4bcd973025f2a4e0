package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// A replay request is a message on hookmesh.replay.<subscription> (RetryStream)
// carrying the event; the subscription's retry consumer delivers it as attempt 1
// of a new cycle with the replay flag set, bounded by the same retry policy.

// ReplayEvent queues one event again, to the named subscriptions or to every
// subscription it was routed to (not filtered out). Open dead letters of the
// event for those subscriptions are closed as "replayed".
func (d *Dispatcher) ReplayEvent(ctx context.Context, req *adminv1.ReplayEventRequest) (*adminv1.ReplayEventResponse, error) {
	if req.GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "id is required")
	}
	for _, name := range req.GetSubscriptions() {
		if _, err := d.worker(name); err != nil {
			return nil, err
		}
	}
	source := req.GetSource()
	if source == "" {
		var err error
		if source, err = d.sourceOf(ctx, req.GetId()); err != nil {
			return nil, err
		}
	}
	recs := map[string]*record{}
	var seq uint64
	for _, w := range d.workers {
		rec, err := d.st.get(ctx, stateKey(source, req.GetId(), w.sub.Name))
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "replay: %v", err)
		}
		if rec != nil {
			recs[w.sub.Name] = rec
			seq = max(seq, rec.Seq)
		}
	}
	ev, data, err := d.loadEvent(ctx, source, req.GetId(), seq)
	if err != nil {
		return nil, err
	}
	targets := req.GetSubscriptions()
	if len(targets) == 0 {
		evMap, err := eventMap(ev)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "replay: %v", err)
		}
		for _, w := range d.workers {
			rec := recs[w.sub.Name]
			if rec != nil && rec.State != adminv1.DeliveryState_DELIVERY_STATE_FILTERED ||
				rec == nil && w.routes(ev, evMap) {
				targets = append(targets, w.sub.Name)
			}
		}
	}
	for _, name := range targets {
		// Before queueing: the replay may finish before this call returns.
		if err := d.beforeReplay(ctx, name, source, req.GetId(), recs[name]); err != nil {
			return nil, status.Errorf(codes.Unavailable, "replay to %s: %v", name, err)
		}
		if err := d.queueReplay(ctx, name, ev, data, seq, ""); err != nil {
			return nil, status.Errorf(codes.Unavailable, "replay to %s: %v", name, err)
		}
	}
	return &adminv1.ReplayEventResponse{Subscriptions: targets}, nil
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
		return "", status.Errorf(codes.Unavailable, "find event: %v", err)
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
		return "", status.Errorf(codes.NotFound, "event %q has no deliveries; give its source to replay it", id)
	case 1:
		for s := range sources {
			return s, nil
		}
	}
	names := make([]string, 0, len(sources))
	for s := range sources {
		names = append(names, s)
	}
	return "", status.Errorf(codes.FailedPrecondition, "event id %q exists in several sources (%s); give its source", id, strings.Join(names, ", "))
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
			return nil, nil, status.Errorf(codes.Unavailable, "read event: %v", err)
		}
	}
	if d.cfg.Events != nil {
		ev, _, err := d.cfg.Events.Get(ctx, source, id)
		if err == nil && ev != nil {
			data, err := proto.Marshal(ev)
			if err != nil {
				return nil, nil, status.Errorf(codes.Internal, "marshal event: %v", err)
			}
			return ev, data, nil
		}
		if status.Code(err) != codes.NotFound && err != nil && !strings.Contains(strings.ToLower(err.Error()), "not found") {
			return nil, nil, status.Errorf(codes.Unavailable, "read event: %v", err)
		}
	}
	return nil, nil, status.Errorf(codes.NotFound, "event %s/%s not found in the log", source, id)
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

const (
	replayPrefix      = "replay."
	defaultReplayRate = 100
	maxReplayRate     = 10_000
)

// jobRecord is a bulk replay job in ControlBucket. Owner and Heartbeat form a
// lease: a job whose owner stopped beating is taken over by another gateway and
// resumed after Cursor (replay requests carry a Nats-Msg-Id, so the overlap
// within the dedupe window is not queued twice).
type jobRecord struct {
	Replay    json.RawMessage `json:"replay"`
	Owner     string          `json:"owner"`
	Heartbeat time.Time       `json:"heartbeat"`
	Cursor    uint64          `json:"cursor"`
	Counted   bool            `json:"counted"`
	// Limit is the last sequence of the scanned stream when the job was created:
	// dead letters written later (e.g. by the job's own replays) are not its work.
	Limit uint64 `json:"limit"`
}

func (j *jobRecord) replay() (*adminv1.Replay, error) {
	r := &adminv1.Replay{}
	if err := protojson.Unmarshal(j.Replay, r); err != nil {
		return nil, fmt.Errorf("decode replay job: %w", err)
	}
	return r, nil
}

func (j *jobRecord) setReplay(r *adminv1.Replay) error {
	data, err := protojson.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode replay job: %w", err)
	}
	j.Replay = data
	return nil
}

// CreateReplay starts a throttled bulk replay job (any gateway can report and
// resume it), or with dry_run counts the matching events and returns at once.
func (d *Dispatcher) CreateReplay(ctx context.Context, req *adminv1.CreateReplayRequest) (*adminv1.CreateReplayResponse, error) {
	req = proto.CloneOf(req)
	if req.GetSince() == nil {
		return nil, status.Error(codes.InvalidArgument, "since is required")
	}
	if req.GetUntil() == nil {
		req.Until = timestamppb.New(d.now())
	}
	if !req.GetUntil().AsTime().After(req.GetSince().AsTime()) {
		return nil, status.Error(codes.InvalidArgument, "until must be after since")
	}
	if req.GetSubscription() != "" {
		if _, err := d.worker(req.GetSubscription()); err != nil {
			return nil, err
		}
	}
	if req.GetSource() != "" && !nameRE.MatchString(req.GetSource()) {
		return nil, status.Error(codes.InvalidArgument, "source: invalid name")
	}
	switch r := req.GetRatePerSecond(); {
	case r < 0:
		return nil, status.Error(codes.InvalidArgument, "rate_per_second must not be negative")
	case r == 0:
		req.RatePerSecond = defaultReplayRate
	case r > maxReplayRate:
		req.RatePerSecond = maxReplayRate
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, status.Errorf(codes.Internal, "job id: %v", err)
	}
	rep := &adminv1.Replay{
		Id:         id.String(),
		Request:    req,
		State:      adminv1.ReplayState_REPLAY_STATE_RUNNING,
		CreateTime: timestamppb.New(d.now()),
	}
	jr := &jobRecord{Owner: d.ownerID(), Heartbeat: d.now()}
	st := d.l.events
	if req.GetDeadLettersOnly() {
		st = d.l.dlq
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "replay: %v", err)
	}
	jr.Limit = info.State.LastSeq
	if req.GetDryRun() {
		n, err := d.runMatches(ctx, req, 0, jr.Limit, nil)
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "count: %v", err)
		}
		rep.Matched = n
		rep.State = adminv1.ReplayState_REPLAY_STATE_DRY_RUN
		rep.FinishTime = timestamppb.New(d.now())
		jr.Counted = true
	}
	if err := jr.setReplay(rep); err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	rev, err := d.putJob(ctx, rep.GetId(), jr, 0)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "store replay job: %v", err)
	}
	if !req.GetDryRun() {
		d.launchJob(rep.GetId(), jr, rev)
	}
	return &adminv1.CreateReplayResponse{Replay: rep}, nil
}

// GetReplay returns a bulk replay job as last stored by whichever gateway runs it.
func (d *Dispatcher) GetReplay(ctx context.Context, req *adminv1.GetReplayRequest) (*adminv1.GetReplayResponse, error) {
	if _, err := uuid.Parse(req.GetId()); err != nil {
		return nil, status.Error(codes.InvalidArgument, "id: not a replay job id")
	}
	jr, _, err := d.getJob(ctx, req.GetId())
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "get replay job: %v", err)
	}
	if jr == nil {
		return nil, status.Errorf(codes.NotFound, "replay job %s not found", req.GetId())
	}
	rep, err := jr.replay()
	if err != nil {
		return nil, status.Errorf(codes.DataLoss, "%v", err)
	}
	return &adminv1.GetReplayResponse{Replay: rep}, nil
}

func (d *Dispatcher) getJob(ctx context.Context, id string) (*jobRecord, uint64, error) {
	e, err := d.l.control.Get(ctx, replayPrefix+id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get job: %w", err)
	}
	jr := &jobRecord{}
	if err := json.Unmarshal(e.Value(), jr); err != nil {
		return nil, 0, fmt.Errorf("decode job: %w", err)
	}
	return jr, e.Revision(), nil
}

// putJob creates (rev 0) or updates (compare-and-set on rev) a job record.
func (d *Dispatcher) putJob(ctx context.Context, id string, jr *jobRecord, rev uint64) (uint64, error) {
	data, err := json.Marshal(jr)
	if err != nil {
		return 0, fmt.Errorf("encode job: %w", err)
	}
	if rev == 0 {
		return d.l.control.Create(ctx, replayPrefix+id, data)
	}
	return d.l.control.Update(ctx, replayPrefix+id, data, rev)
}

// ownerID names this dispatcher in job leases.
func (d *Dispatcher) ownerID() string { return d.owner }

func (d *Dispatcher) launchJob(id string, jr *jobRecord, rev uint64) {
	if _, loaded := d.jobs.LoadOrStore(id, struct{}{}); loaded {
		return
	}
	d.goBackground(func(ctx context.Context) {
		defer d.jobs.Delete(id)
		d.runJob(ctx, id, jr, rev)
	})
}

// runJob counts (once), then queues the matching events at the job's rate,
// storing progress at least every progressEvery.
func (d *Dispatcher) runJob(ctx context.Context, id string, jr *jobRecord, rev uint64) {
	log := d.log.With("replay_job", id)
	rep, err := jr.replay()
	if err != nil {
		log.Error("replay job unreadable", "error", err)
		return
	}
	save := func() bool {
		jr.Heartbeat = d.now()
		if err := jr.setReplay(rep); err != nil {
			log.Error("encode replay job", "error", err)
			return false
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		nrev, err := d.putJob(sctx, id, jr, rev)
		if err != nil {
			// Lost the lease (another gateway took over) or the store failed.
			log.Warn("replay job progress not stored; stopping here", "error", err)
			return false
		}
		rev = nrev
		return true
	}
	fail := func(err error) {
		rep.State = adminv1.ReplayState_REPLAY_STATE_FAILED
		rep.Error = err.Error()
		rep.FinishTime = timestamppb.New(d.now())
		save()
		log.Error("replay job failed", "error", err)
	}
	if !jr.Counted {
		n, err := d.runMatches(ctx, rep.GetRequest(), 0, jr.Limit, nil)
		if err != nil {
			if ctx.Err() == nil {
				fail(err)
			}
			return
		}
		rep.Matched, jr.Counted = n, true
		if !save() {
			return
		}
	}
	rate := max(int(rep.GetRequest().GetRatePerSecond()), 1)
	start, sent := time.Now(), 0
	lastSave := time.Now()
	_, err = d.runMatches(ctx, rep.GetRequest(), jr.Cursor, jr.Limit, func(m match) error {
		// Throttle: the n-th event is not queued before start + n/rate.
		if wait := time.Until(start.Add(time.Duration(sent) * time.Second / time.Duration(rate))); wait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
		for _, sub := range m.subs {
			// State first, then queue: the replay may finish (or die again, with a
			// new dead letter) before this loop goes on.
			rec, err := d.st.get(ctx, stateKey(m.ev.GetSource(), m.ev.GetId(), sub))
			if err != nil {
				return err
			}
			if m.dead != nil && (rec == nil || rec.DeadID != m.deadID) {
				if _, err := d.closeDeadLetter(ctx, m.dead, resolutionReplayed); err != nil {
					return err
				}
			}
			if err := d.beforeReplay(ctx, sub, m.ev.GetSource(), m.ev.GetId(), rec); err != nil {
				return err
			}
			msgID := "replay/" + id + "/" + sub + "/" + stateKey(m.ev.GetSource(), m.ev.GetId(), "")
			if err := d.queueReplay(ctx, sub, m.ev, m.data, m.seq, msgID); err != nil {
				return err
			}
		}
		sent++
		rep.Queued++
		jr.Cursor = m.cursor
		if time.Since(lastSave) >= progressEvery {
			lastSave = time.Now()
			if !save() {
				return errLostLease
			}
		}
		return nil
	})
	switch {
	case errors.Is(err, errLostLease):
		return
	case ctx.Err() != nil:
		// Stopping: the lease lapses and another gateway (or this one after a
		// restart) resumes after the cursor.
		save()
		return
	case err != nil:
		fail(err)
		return
	}
	rep.State = adminv1.ReplayState_REPLAY_STATE_DONE
	rep.FinishTime = timestamppb.New(d.now())
	if save() {
		log.Info("replay job done", "matched", rep.GetMatched(), "queued", rep.GetQueued())
	}
}

var errLostLease = errors.New("replay job lease lost")

const progressEvery = 250 * time.Millisecond

// match is one event a bulk replay selects, with the subscriptions it goes to.
type match struct {
	ev     *eventv1.Event
	data   []byte
	seq    uint64 // in HOOKMESH_EVENTS, 0 if unknown
	subs   []string
	dead   *jetstream.RawStreamMsg // the open dead letter replayed, for dead_letters_only
	deadID string
	cursor uint64 // position to resume after
}

// runMatches walks the events (or open dead letters) a bulk replay selects, after
// cursor and up to limit, calling fn for each (fn nil: count only). It returns the count.
func (d *Dispatcher) runMatches(ctx context.Context, req *adminv1.CreateReplayRequest, cursor, limit uint64, fn func(match) error) (int64, error) {
	since, until := req.GetSince().AsTime(), req.GetUntil().AsTime()
	var n int64
	if req.GetDeadLettersOnly() {
		sub := "*"
		if req.GetSubscription() != "" {
			sub = req.GetSubscription()
		}
		cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{d.l.dlqSubject(sub, "open", "*")}}
		if cursor > 0 {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, cursor+1
		}
		err := scan(ctx, d.l.dlq, cfg, func(msg jetstream.Msg) error {
			md, err := msg.Metadata()
			if err != nil {
				return fmt.Errorf("metadata: %w", err)
			}
			if md.Sequence.Stream > limit {
				return errStopScan
			}
			dl := &adminv1.DeadLetter{}
			if err := proto.Unmarshal(msg.Data(), dl); err != nil {
				return nil
			}
			ev := dl.GetEvent()
			rt := ev.GetReceivedTime().AsTime()
			if req.GetSource() != "" && ev.GetSource() != req.GetSource() ||
				req.GetType() != "" && !MatchType(req.GetType(), ev.GetType()) ||
				rt.Before(since) || !rt.Before(until) || d.byName[dl.GetSubscription()] == nil {
				return nil
			}
			n++
			if fn == nil {
				return nil
			}
			data, err := proto.Marshal(ev)
			if err != nil {
				return fmt.Errorf("marshal event: %w", err)
			}
			var seq uint64
			if rec, err := d.st.get(ctx, stateKey(ev.GetSource(), ev.GetId(), dl.GetSubscription())); err == nil && rec != nil {
				seq = rec.Seq
			}
			raw := &jetstream.RawStreamMsg{Subject: msg.Subject(), Sequence: md.Sequence.Stream, Data: msg.Data()}
			return fn(match{ev: ev, data: data, seq: seq, subs: []string{dl.GetSubscription()}, dead: raw, deadID: dl.GetId(), cursor: md.Sequence.Stream})
		})
		return n, err
	}

	subject := d.l.eventsAll()
	if req.GetSource() != "" {
		subject = d.l.eventsOf(req.GetSource())
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}}
	if cursor > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, cursor+1
	} else {
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	err := scan(ctx, d.l.events, cfg, func(msg jetstream.Msg) error {
		md, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("metadata: %w", err)
		}
		if !md.Timestamp.Before(until) || md.Sequence.Stream > limit {
			return errStopScan
		}
		if md.Timestamp.Before(since) {
			return nil
		}
		typ := msg.Headers().Get(hdrType)
		if typ != "" && req.GetType() != "" && !MatchType(req.GetType(), typ) {
			return nil
		}
		ev := &eventv1.Event{}
		if err := proto.Unmarshal(msg.Data(), ev); err != nil {
			return nil
		}
		if req.GetType() != "" && !MatchType(req.GetType(), ev.GetType()) {
			return nil
		}
		var evMap map[string]any
		var subs []string
		for _, w := range d.workers {
			if req.GetSubscription() != "" && w.sub.Name != req.GetSubscription() || !w.globs.match(ev.GetType()) {
				continue
			}
			if w.filter != nil && evMap == nil {
				if evMap, err = eventMap(ev); err != nil {
					return err
				}
			}
			if w.routes(ev, evMap) {
				subs = append(subs, w.sub.Name)
			}
		}
		if len(subs) == 0 {
			return nil
		}
		n++
		if fn == nil {
			return nil
		}
		return fn(match{ev: ev, data: msg.Data(), seq: md.Sequence.Stream, subs: subs, cursor: md.Sequence.Stream})
	})
	return n, err
}

// jobLoop takes over running jobs whose owner stopped beating for JobLease.
func (d *Dispatcher) jobLoop(ctx context.Context) {
	t := time.NewTicker(max(d.cfg.JobLease/2, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lister, err := d.l.control.ListKeysFiltered(ctx, replayPrefix+"*")
		if err != nil {
			continue
		}
		for k := range lister.Keys() {
			id := strings.TrimPrefix(k, replayPrefix)
			if _, mine := d.jobs.Load(id); mine {
				continue
			}
			jr, rev, err := d.getJob(ctx, id)
			if err != nil || jr == nil || d.now().Sub(jr.Heartbeat) < d.cfg.JobLease {
				continue
			}
			rep, err := jr.replay()
			if err != nil || rep.GetState() != adminv1.ReplayState_REPLAY_STATE_RUNNING {
				continue
			}
			jr.Owner, jr.Heartbeat = d.ownerID(), d.now()
			nrev, err := d.putJob(ctx, id, jr, rev)
			if err != nil {
				continue // another gateway won the race
			}
			d.log.InfoContext(ctx, "replay job taken over", "replay_job", id)
			d.launchJob(id, jr, nrev)
		}
	}
}
