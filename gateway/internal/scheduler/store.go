package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

const (
	cronPrefix   = "cron."
	oneOffPrefix = "oneoff."
	maxSkipRuns  = 20 // skip records kept per schedule
)

func cronKey(name string) string { return cronPrefix + name }
func oneOffKey(id string) string { return oneOffPrefix + id }

// claim is a replica's lease on emitting one tick or one-off event.
type claim struct {
	Tick    time.Time `json:"tick,omitzero"` // cron only: the tick being emitted
	Owner   string    `json:"owner"`         // Scheduler.id
	Expires time.Time `json:"expires"`
}

// cronState is the value of cron.<name>.
type cronState struct {
	// Last is the newest processed tick, emitted or skipped; the next tick follows it.
	Last time.Time `json:"last"`
	// LastEmitted is the newest emitted tick.
	LastEmitted time.Time `json:"last_emitted,omitzero"`
	// Inflight is the tick being emitted, while a replica holds it.
	Inflight *claim `json:"inflight,omitempty"`
	// SkippedTotal counts every tick ever skipped.
	SkippedTotal int64 `json:"skipped_total,omitempty"`
	// Skips are the newest runs of skipped ticks (at most maxSkipRuns).
	Skips []skipRun `json:"skips,omitempty"`
}

// skipRun is consecutive ticks skipped at once, after one downtime.
type skipRun struct {
	First     time.Time     `json:"first"`
	Last      time.Time     `json:"last"`
	Count     int64         `json:"count"`
	At        time.Time     `json:"at"` // when the skip was decided
	Tolerance time.Duration `json:"tolerance_ns"`
}

// One-off event states as stored.
const (
	stateScheduled = "scheduled"
	stateFired     = "fired"
	stateCancelled = "cancelled"
	stateSkipped   = "skipped"
)

// oneOffRecord is the value of oneoff.<id>.
type oneOffRecord struct {
	ID            string          `json:"id"`
	Name          string          `json:"name"`
	ScheduledTime time.Time       `json:"scheduled_time"`
	Payload       json.RawMessage `json:"payload,omitempty"` // protojson of a google.protobuf.Value
	Comment       string          `json:"comment,omitempty"`
	State         string          `json:"state"`
	CreateTime    time.Time       `json:"create_time"`
	Tolerance     time.Duration   `json:"tolerance_ns"`
	// Traceparent/Tracestate of the request that created it; the firing span links to it.
	Traceparent string `json:"traceparent,omitempty"`
	Tracestate  string `json:"tracestate,omitempty"`
	// Firing is set from the claim until the event is appended and marked fired; a
	// firing event can no longer be cancelled.
	Firing *claim `json:"firing,omitempty"`
	// DoneTime is when it was fired, cancelled or skipped.
	DoneTime time.Time `json:"done_time,omitzero"`
}

// entry is the latest known revision of a key.
type entry struct {
	rev    uint64
	value  []byte
	oneOff *oneOffRecord // decoded once for oneoff.* keys; nil if undecodable
}

func newEntry(key string, rev uint64, value []byte) *entry {
	e := &entry{rev: rev, value: value}
	if strings.HasPrefix(key, oneOffPrefix) {
		var r oneOffRecord
		if json.Unmarshal(value, &r) == nil {
			e.oneOff = &r
		}
	}
	return e
}

var errConflict = errors.New("changed concurrently")

func isConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists)
}

// write stores v under key if key is still at rev (0: does not exist yet), and
// records the new revision for the Run goroutine. It returns errConflict when another
// writer got there first; the entry is then refreshed from the bucket.
func (s *Scheduler) write(ctx context.Context, key string, v any, rev uint64) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	sctx, cancel := s.step(ctx)
	defer cancel()
	var newRev uint64
	if rev == 0 {
		newRev, err = s.kv.Create(sctx, key, data)
	} else {
		newRev, err = s.kv.Update(sctx, key, data, rev)
	}
	if isConflict(err) {
		if rerr := s.refresh(ctx, key); rerr != nil {
			return rerr
		}
		return errConflict
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	s.entries[key] = newEntry(key, newRev, data)
	return nil
}

// refresh reloads key into the Run goroutine's view.
func (s *Scheduler) refresh(ctx context.Context, key string) error {
	sctx, cancel := s.step(ctx)
	defer cancel()
	e, err := s.kv.Get(sctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		delete(s.entries, key)
		return nil
	case err != nil:
		return fmt.Errorf("read %s: %w", key, err)
	}
	s.entries[key] = newEntry(key, e.Revision(), e.Value())
	return nil
}

// watch starts watching the whole bucket and loads its current values.
func (s *Scheduler) watch(ctx context.Context) (jetstream.KeyWatcher, error) {
	w, err := s.kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("scheduler: watch state bucket: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			stopWatch(w)
			return nil, fmt.Errorf("scheduler: load state: %w", ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("scheduler: state watcher closed while loading")
			}
			if e == nil {
				return w, nil
			}
			s.apply(e)
		}
	}
}

// apply takes a watched change unless the Run goroutine already knows a newer one
// (its own writes are recorded before their echo arrives).
func (s *Scheduler) apply(e jetstream.KeyValueEntry) {
	if e == nil {
		return
	}
	key := e.Key()
	if cur := s.entries[key]; cur != nil && cur.rev >= e.Revision() {
		return
	}
	if e.Operation() != jetstream.KeyValuePut {
		delete(s.entries, key)
		return
	}
	s.entries[key] = newEntry(key, e.Revision(), e.Value())
}

// drain applies the changes already queued, so that one pass sees them all.
func (s *Scheduler) drain(w jetstream.KeyWatcher) {
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			s.apply(e)
		default:
			return
		}
	}
}

// stopWatch stops w and reads what its callback may still be blocked on sending, so
// that the subscription can close.
func stopWatch(w jetstream.KeyWatcher) {
	if w == nil {
		return
	}
	_ = w.Stop()
	go func() {
		for range w.Updates() {
		}
	}()
}

// snapshot reads every current value of the bucket (for the admin methods, which
// must see other replicas' writes).
func (s *Scheduler) snapshot(ctx context.Context) (map[string]*entry, error) {
	w, err := s.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("read state bucket: %w", err)
	}
	defer stopWatch(w)
	out := map[string]*entry{}
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("read state bucket: %w", ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("read state bucket: watcher closed")
			}
			if e == nil {
				return out, nil
			}
			out[e.Key()] = newEntry(e.Key(), e.Revision(), e.Value())
		}
	}
}

func decodeCron(e *entry) (cronState, error) {
	var st cronState
	if err := json.Unmarshal(e.value, &st); err != nil {
		return st, fmt.Errorf("decode cron state: %w", err)
	}
	return st, nil
}
