package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// A bulk replay job selects events (or open dead letters) by filter and time
// range and queues a replay request for each at a throttled rate. Any gateway
// can report it and take it over: its record in ControlBucket holds a lease.

const (
	replayPrefix      = "replay."
	defaultReplayRate = 100
	maxReplayRate     = 10_000
	progressEvery     = 250 * time.Millisecond
)

var errLostLease = errors.New("replay job lease lost")

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
// The request is stored with the job as its specification.
func (d *Dispatcher) CreateReplay(ctx context.Context, req *adminv1.CreateReplayRequest) (*adminv1.Replay, error) {
	req, err := d.replaySpec(req)
	if err != nil {
		return nil, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, internal(err, "job id")
	}
	rep := &adminv1.Replay{
		Id:         id.String(),
		Request:    req,
		State:      adminv1.ReplayState_REPLAY_STATE_RUNNING,
		CreateTime: timestamppb.New(d.now()),
	}
	jr := &jobRecord{Owner: d.ownerID(), Heartbeat: d.now()}
	info, err := d.scanner(req).stream.Info(ctx)
	if err != nil {
		return nil, unavailable(err, "replay")
	}
	jr.Limit = info.State.LastSeq
	if req.GetDryRun() {
		if err := d.dryRun(ctx, rep, jr); err != nil {
			return nil, err
		}
	}
	if err := jr.setReplay(rep); err != nil {
		return nil, internal(err, "store replay job")
	}
	rev, err := d.putJob(ctx, rep.GetId(), jr, 0)
	if err != nil {
		return nil, unavailable(err, "store replay job")
	}
	if !req.GetDryRun() {
		d.launchJob(rep.GetId(), jr, rev)
	}
	return rep, nil
}

// replaySpec validates a copy of req and fills its defaults: until now, the
// default rate, the rate's cap.
func (d *Dispatcher) replaySpec(req *adminv1.CreateReplayRequest) (*adminv1.CreateReplayRequest, error) {
	req = proto.CloneOf(req)
	if req.GetSince() == nil {
		return nil, invalid("since is required")
	}
	if req.GetUntil() == nil {
		req.Until = timestamppb.New(d.now())
	}
	if !req.GetUntil().AsTime().After(req.GetSince().AsTime()) {
		return nil, invalid("until must be after since")
	}
	if req.GetSubscription() != "" {
		if _, err := d.worker(req.GetSubscription()); err != nil {
			return nil, err
		}
	}
	if req.GetSource() != "" && !nameRE.MatchString(req.GetSource()) {
		return nil, invalid("source: invalid name")
	}
	switch r := req.GetRatePerSecond(); {
	case r < 0:
		return nil, invalid("rate_per_second must not be negative")
	case r == 0:
		req.RatePerSecond = defaultReplayRate
	case r > maxReplayRate:
		req.RatePerSecond = maxReplayRate
	}
	return req, nil
}

// dryRun counts what the job would replay and marks it finished.
func (d *Dispatcher) dryRun(ctx context.Context, rep *adminv1.Replay, jr *jobRecord) error {
	n, err := d.scanner(rep.GetRequest()).run(ctx, 0, jr.Limit, nil)
	if err != nil {
		return unavailable(err, "count")
	}
	rep.Matched = n
	rep.State = adminv1.ReplayState_REPLAY_STATE_DRY_RUN
	rep.FinishTime = timestamppb.New(d.now())
	jr.Counted = true
	return nil
}

// GetReplay returns a bulk replay job as last stored by whichever gateway runs it.
func (d *Dispatcher) GetReplay(ctx context.Context, id string) (*adminv1.Replay, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, invalid("id: not a replay job id")
	}
	jr, _, err := d.getJob(ctx, id)
	if err != nil {
		return nil, unavailable(err, "get replay job")
	}
	if jr == nil {
		return nil, notFound("replay job %s not found", id)
	}
	rep, err := jr.replay()
	if err != nil {
		return nil, newError(ErrCorrupt, err, "%v", err)
	}
	return rep, nil
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

// jobRun is one gateway's run of a job: the record it holds the lease of, at
// revision rev.
type jobRun struct {
	d   *Dispatcher
	ctx context.Context
	id  string
	jr  *jobRecord
	rev uint64
	rep *adminv1.Replay
	sc  scanner
}

// runJob counts (once), then queues the matching events at the job's rate,
// storing progress at least every progressEvery.
func (d *Dispatcher) runJob(ctx context.Context, id string, jr *jobRecord, rev uint64) {
	rep, err := jr.replay()
	if err != nil {
		d.log.Error("replay job unreadable", "replay_job", id, "error", err)
		return
	}
	r := &jobRun{d: d, ctx: ctx, id: id, jr: jr, rev: rev, rep: rep, sc: d.scanner(rep.GetRequest())}
	if !r.count() {
		return
	}
	r.finish(r.queue())
}

func (r *jobRun) logger() *slog.Logger { return r.d.log.With("replay_job", r.id) }

// save stores the job's progress under the lease; false when the lease was
// lost (another gateway took over) or the store failed.
func (r *jobRun) save() bool {
	r.jr.Heartbeat = r.d.now()
	if err := r.jr.setReplay(r.rep); err != nil {
		r.logger().Error("encode replay job", "error", err)
		return false
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 5*time.Second)
	defer cancel()
	nrev, err := r.d.putJob(sctx, r.id, r.jr, r.rev)
	if err != nil {
		r.logger().Warn("replay job progress not stored; stopping here", "error", err)
		return false
	}
	r.rev = nrev
	return true
}

func (r *jobRun) fail(err error) {
	r.rep.State = adminv1.ReplayState_REPLAY_STATE_FAILED
	r.rep.Error = err.Error()
	r.rep.FinishTime = timestamppb.New(r.d.now())
	r.save()
	r.logger().Error("replay job failed", "error", err)
}

// count fills Matched once per job (a job taken over keeps its count); false
// when the job cannot go on.
func (r *jobRun) count() bool {
	if r.jr.Counted {
		return true
	}
	n, err := r.sc.run(r.ctx, 0, r.jr.Limit, nil)
	if err != nil {
		if r.ctx.Err() == nil {
			r.fail(err)
		}
		return false
	}
	r.rep.Matched, r.jr.Counted = n, true
	return r.save()
}

// queue queues every match after the cursor at the job's rate.
func (r *jobRun) queue() error {
	rate := max(int(r.rep.GetRequest().GetRatePerSecond()), 1)
	start, sent := time.Now(), 0
	lastSave := time.Now()
	_, err := r.sc.run(r.ctx, r.jr.Cursor, r.jr.Limit, func(m match) error {
		// Throttle: the n-th event is not queued before start + n/rate.
		if err := sleepUntil(r.ctx, start.Add(time.Duration(sent)*time.Second/time.Duration(rate))); err != nil {
			return err
		}
		if err := r.queueMatch(m); err != nil {
			return err
		}
		sent++
		r.rep.Queued++
		r.jr.Cursor = m.cursor
		if time.Since(lastSave) >= progressEvery {
			lastSave = time.Now()
			if !r.save() {
				return errLostLease
			}
		}
		return nil
	})
	return err
}

// queueMatch replays one match to each of its subscriptions.
func (r *jobRun) queueMatch(m match) error {
	d, ctx := r.d, r.ctx
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
		msgID := "replay/" + r.id + "/" + sub + "/" + stateKey(m.ev.GetSource(), m.ev.GetId(), "")
		if err := d.queueReplay(ctx, sub, m.ev, m.data, m.seq, msgID); err != nil {
			return err
		}
	}
	return nil
}

// finish stores how queueing ended.
func (r *jobRun) finish(err error) {
	switch {
	case errors.Is(err, errLostLease):
		return
	case r.ctx.Err() != nil:
		// Stopping: the lease lapses and another gateway (or this one after a
		// restart) resumes after the cursor.
		r.save()
		return
	case err != nil:
		r.fail(err)
		return
	}
	r.rep.State = adminv1.ReplayState_REPLAY_STATE_DONE
	r.rep.FinishTime = timestamppb.New(r.d.now())
	if r.save() {
		r.logger().Info("replay job done", "matched", r.rep.GetMatched(), "queued", r.rep.GetQueued())
	}
}

// sleepUntil waits for t or ctx, whichever comes first.
func sleepUntil(ctx context.Context, t time.Time) error {
	wait := time.Until(t)
	if wait <= 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(wait):
		return nil
	}
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
			d.takeOver(ctx, strings.TrimPrefix(k, replayPrefix))
		}
	}
}

// takeOver claims job id if it is running and its lease lapsed, and runs it.
func (d *Dispatcher) takeOver(ctx context.Context, id string) {
	if _, mine := d.jobs.Load(id); mine {
		return
	}
	jr, rev, err := d.getJob(ctx, id)
	if err != nil || jr == nil || d.now().Sub(jr.Heartbeat) < d.cfg.JobLease {
		return
	}
	rep, err := jr.replay()
	if err != nil || rep.GetState() != adminv1.ReplayState_REPLAY_STATE_RUNNING {
		return
	}
	jr.Owner, jr.Heartbeat = d.ownerID(), d.now()
	nrev, err := d.putJob(ctx, id, jr, rev)
	if err != nil {
		return // another gateway won the race
	}
	d.log.InfoContext(ctx, "replay job taken over", "replay_job", id)
	d.launchJob(id, jr, nrev)
}

// match is one event a bulk replay selects, with the subscriptions it goes to.
type match struct {
	ev     *eventv1.Event
	data   []byte
	seq    uint64 // in the event stream, 0 if unknown
	subs   []string
	dead   *jetstream.RawStreamMsg // the open dead letter replayed, for dead_letters_only
	deadID string
	cursor uint64 // position to resume after
}
