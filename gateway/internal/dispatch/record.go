package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
)

// record is the delivery state of one event for one subscription, stored as JSON
// in DeliveriesBucket. It is also the journal that makes a redelivered message
// (after a crash between bookkeeping and ack) finish without a second attempt.
type record struct {
	State    adminv1.DeliveryState `json:"state"`
	Cycle    string                `json:"cycle"`              // current delivery cycle
	Seq      uint64                `json:"seq,omitempty"`      // event's sequence in the event stream
	Attempts []attempt             `json:"attempts,omitempty"` // every attempt, all cycles
	Next     time.Time             `json:"next,omitzero"`      // next attempt, while retrying
	Parked   bool                  `json:"parked,omitempty"`   // the next attempt is parked in RetryStream
	DeadID   string                `json:"dead_id,omitempty"`  // open dead letter, while dead
	Note     string                `json:"note,omitempty"`     // e.g. a filter evaluation error
	Updated  time.Time             `json:"updated"`
}

type attempt struct {
	Number   int32         `json:"n"`
	Cycle    string        `json:"cycle"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"dur"`
	Code     string        `json:"code"`
	Message  string        `json:"msg,omitempty"`
	Replay   bool          `json:"replay,omitempty"`
	TraceID  string        `json:"trace,omitempty"`
}

// lastInCycle is the highest attempt number recorded for cycle, 0 if none.
func (r *record) lastInCycle(cycle string) int32 {
	var n int32
	for _, a := range r.Attempts {
		if a.Cycle == cycle && a.Number > n {
			n = a.Number
		}
	}
	return n
}

func (r *record) cycleAttempts(cycle string) []*adminv1.Attempt {
	var out []*adminv1.Attempt
	for _, a := range r.Attempts {
		if a.Cycle == cycle {
			out = append(out, a.proto())
		}
	}
	return out
}

func (a attempt) proto() *adminv1.Attempt {
	return &adminv1.Attempt{
		Number:    a.Number,
		StartTime: timestamppb.New(a.Start),
		Duration:  durationpb.New(a.Duration),
		Code:      a.Code,
		Message:   a.Message,
		Replay:    a.Replay,
		TraceId:   a.TraceID,
	}
}

func (r *record) delivery(sub string) *adminv1.Delivery {
	d := &adminv1.Delivery{Subscription: sub, State: r.State}
	for _, a := range r.Attempts {
		d.Attempts = append(d.Attempts, a.proto())
	}
	if r.State == adminv1.DeliveryState_DELIVERY_STATE_RETRYING && !r.Next.IsZero() {
		d.NextAttemptTime = timestamppb.New(r.Next)
	}
	return d
}

// maxAttemptsKept bounds a record's size when an event is replayed many times.
const maxAttemptsKept = 100

type states struct{ kv jetstream.KeyValue }

// get returns the record or nil when there is none.
func (s states) get(ctx context.Context, key string) (*record, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get delivery state: %w", err)
	}
	r := &record{}
	if err := json.Unmarshal(e.Value(), r); err != nil {
		return nil, fmt.Errorf("decode delivery state: %w", err)
	}
	return r, nil
}

func (s states) put(ctx context.Context, key string, r *record) error {
	if n := len(r.Attempts); n > maxAttemptsKept {
		r.Attempts = r.Attempts[n-maxAttemptsKept:]
	}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode delivery state: %w", err)
	}
	if _, err := s.kv.Put(ctx, key, data); err != nil {
		return fmt.Errorf("put delivery state: %w", err)
	}
	return nil
}
