package scheduler

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
)

// Limits of one-off events.
const (
	MaxPayloadBytes = 256 << 10 // the payload as JSON
	MaxCommentBytes = 4096
	defaultPageSize = 50
	maxPageSize     = 1000
	maxCASAttempts  = 8
)

// SkippedIDPrefix starts the ids of the skipped-tick records ListScheduledEvents
// shows next to one-off events: "cron.<schedule>@<first skipped tick, RFC 3339 UTC>".
const SkippedIDPrefix = "cron."

// CreateScheduledEvent schedules a one-off event, delivered as scheduled.<name> with
// source "scheduled" and the returned id. Invalid requests answer INVALID_ARGUMENT;
// a time more than the tolerance in the past is invalid (it would never fire).
func (s *Scheduler) CreateScheduledEvent(ctx context.Context, req *adminv1.CreateScheduledEventRequest) (*adminv1.CreateScheduledEventResponse, error) {
	if !nameRE.MatchString(req.GetName()) {
		return nil, status.Error(codes.InvalidArgument, "name must be 1-64 letters, digits, '_' or '-'")
	}
	if req.GetScheduledTime() == nil {
		return nil, status.Error(codes.InvalidArgument, "scheduled_time is required")
	}
	if err := req.GetScheduledTime().CheckValid(); err != nil {
		return nil, status.Error(codes.InvalidArgument, "scheduled_time is not a valid time")
	}
	tolerance := DefaultTolerance
	if d := req.GetTolerance(); d != nil {
		if err := d.CheckValid(); err != nil || d.AsDuration() < 0 {
			return nil, status.Error(codes.InvalidArgument, "tolerance must be a positive duration")
		}
		if d.AsDuration() > 0 {
			tolerance = d.AsDuration()
		}
	}
	if len(req.GetComment()) > MaxCommentBytes || !utf8.ValidString(req.GetComment()) {
		return nil, status.Errorf(codes.InvalidArgument, "comment must be valid UTF-8 of at most %d bytes", MaxCommentBytes)
	}
	var payload json.RawMessage
	if v := req.GetPayload(); v != nil {
		b, err := protojson.Marshal(v)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, "payload is not valid JSON")
		}
		if len(b) > MaxPayloadBytes {
			return nil, status.Errorf(codes.InvalidArgument, "payload is %d bytes as JSON, more than %d", len(b), MaxPayloadBytes)
		}
		payload = b
	}
	now := s.cfg.Clock.Now()
	at := req.GetScheduledTime().AsTime()
	if now.Sub(at) > tolerance {
		return nil, status.Errorf(codes.InvalidArgument, "scheduled_time %s is more than the tolerance %s in the past; it would never fire",
			at.Format(time.RFC3339), tolerance)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, status.Error(codes.Internal, "cannot generate an id")
	}
	r := oneOffRecord{
		ID:            id.String(),
		Name:          req.GetName(),
		ScheduledTime: at.UTC(),
		Payload:       payload,
		Comment:       req.GetComment(),
		State:         stateScheduled,
		CreateTime:    now.UTC(),
		Tolerance:     tolerance,
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	r.Traceparent, r.Tracestate = carrier["traceparent"], carrier["tracestate"]
	data, err := json.Marshal(r)
	if err != nil {
		return nil, status.Error(codes.Internal, "cannot encode the scheduled event")
	}
	sctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if _, err := s.kv.Create(sctx, oneOffKey(r.ID), data); err != nil {
		return nil, s.storeError(ctx, "create scheduled event", err)
	}
	s.m.oneOff.WithLabelValues("created").Inc()
	s.cfg.Logger.InfoContext(ctx, "scheduled event created", "id", r.ID, "name", r.Name, "scheduled_time", r.ScheduledTime)
	s.poke()
	return &adminv1.CreateScheduledEventResponse{ScheduledEvent: r.proto()}, nil
}

// ListScheduledEvents lists one-off events by scheduled time, and with them (when the
// filter is unspecified or SKIPPED) the runs of cron ticks skipped after downtime, as
// SKIPPED entries with ids "cron.<schedule>@<first skipped tick>" and a comment saying
// how many ticks, until when and why.
func (s *Scheduler) ListScheduledEvents(ctx context.Context, req *adminv1.ListScheduledEventsRequest) (*adminv1.ListScheduledEventsResponse, error) {
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, status.Error(codes.InvalidArgument, "page_size must not be negative")
	case size == 0:
		size = defaultPageSize
	case size > maxPageSize:
		size = maxPageSize
	}
	if _, ok := adminv1.ScheduledEventState_name[int32(req.GetState())]; !ok {
		return nil, status.Error(codes.InvalidArgument, "unknown state")
	}
	var after *pageKey
	if tok := req.GetPageToken(); tok != "" {
		k, err := decodePageToken(tok)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, "page_token is not valid")
		}
		after = &k
	}
	snap, err := s.snapshot(ctx)
	if err != nil {
		return nil, s.storeError(ctx, "list scheduled events", err)
	}
	want := req.GetState()
	var all []*adminv1.ScheduledEvent
	for key, e := range snap {
		switch {
		case strings.HasPrefix(key, oneOffPrefix):
			if e.oneOff == nil {
				continue
			}
			if p := e.oneOff.proto(); want == adminv1.ScheduledEventState_SCHEDULED_EVENT_STATE_UNSPECIFIED || p.GetState() == want {
				all = append(all, p)
			}
		case strings.HasPrefix(key, cronPrefix):
			if want != adminv1.ScheduledEventState_SCHEDULED_EVENT_STATE_UNSPECIFIED && want != adminv1.ScheduledEventState_SCHEDULED_EVENT_STATE_SKIPPED {
				continue
			}
			st, err := decodeCron(e)
			if err != nil {
				continue
			}
			for _, run := range st.Skips {
				all = append(all, run.proto(strings.TrimPrefix(key, cronPrefix)))
			}
		}
	}
	slices.SortFunc(all, func(a, b *adminv1.ScheduledEvent) int { return keyOf(a).compare(keyOf(b)) })
	start := 0
	if after != nil {
		start, _ = slices.BinarySearchFunc(all, *after, func(e *adminv1.ScheduledEvent, k pageKey) int {
			if keyOf(e).compare(k) <= 0 {
				return -1
			}
			return 1
		})
	}
	end := min(start+size, len(all))
	resp := &adminv1.ListScheduledEventsResponse{ScheduledEvents: all[start:end]}
	if end < len(all) {
		resp.NextPageToken = keyOf(all[end-1]).encode()
	}
	return resp, nil
}

// DeleteScheduledEvent cancels a one-off event that has not fired: NOT_FOUND for an
// unknown id, FAILED_PRECONDITION once it fired, is firing or was skipped (and for a
// skipped-tick record). Cancelling a cancelled event again returns it unchanged.
func (s *Scheduler) DeleteScheduledEvent(ctx context.Context, req *adminv1.DeleteScheduledEventRequest) (*adminv1.DeleteScheduledEventResponse, error) {
	id := req.GetId()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "id is required")
	}
	if strings.HasPrefix(id, SkippedIDPrefix) {
		return nil, s.deleteSkipRecord(ctx, id)
	}
	if u, err := uuid.Parse(id); err != nil || u.String() != id {
		return nil, status.Errorf(codes.NotFound, "scheduled event %q not found", id) // ids are canonical UUIDs
	}
	key := oneOffKey(id)
	for range maxCASAttempts {
		sctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		e, err := s.kv.Get(sctx, key)
		cancel()
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			return nil, status.Errorf(codes.NotFound, "scheduled event %q not found", id)
		}
		if err != nil {
			return nil, s.storeError(ctx, "delete scheduled event", err)
		}
		var r oneOffRecord
		if err := json.Unmarshal(e.Value(), &r); err != nil {
			return nil, s.storeError(ctx, "delete scheduled event", fmt.Errorf("decode %s: %w", key, err))
		}
		switch {
		case r.State == stateCancelled:
			return &adminv1.DeleteScheduledEventResponse{ScheduledEvent: r.proto()}, nil
		case r.State == stateFired:
			return nil, status.Errorf(codes.FailedPrecondition, "scheduled event %q already fired", id)
		case r.State == stateSkipped:
			return nil, status.Errorf(codes.FailedPrecondition, "scheduled event %q was skipped (missed by more than its tolerance); there is nothing to cancel", id)
		case r.Firing != nil:
			return nil, status.Errorf(codes.FailedPrecondition, "scheduled event %q is being fired", id)
		}
		r.State, r.DoneTime = stateCancelled, s.cfg.Clock.Now().UTC()
		data, err := json.Marshal(r)
		if err != nil {
			return nil, status.Error(codes.Internal, "cannot encode the scheduled event")
		}
		sctx, cancel = context.WithTimeout(ctx, s.cfg.Timeout)
		_, err = s.kv.Update(sctx, key, data, e.Revision())
		cancel()
		if isConflict(err) {
			continue // fired, claimed or cancelled meanwhile: look again
		}
		if err != nil {
			return nil, s.storeError(ctx, "delete scheduled event", err)
		}
		s.m.oneOff.WithLabelValues(stateCancelled).Inc()
		s.cfg.Logger.InfoContext(ctx, "scheduled event cancelled", "id", id, "name", r.Name)
		s.poke()
		return &adminv1.DeleteScheduledEventResponse{ScheduledEvent: r.proto()}, nil
	}
	return nil, status.Errorf(codes.Aborted, "scheduled event %q kept changing; retry", id)
}

func (s *Scheduler) deleteSkipRecord(ctx context.Context, id string) error {
	name, at, ok := strings.Cut(strings.TrimPrefix(id, SkippedIDPrefix), "@")
	first, err := time.Parse(time.RFC3339, at)
	if !ok || err != nil || !nameRE.MatchString(name) {
		return status.Errorf(codes.NotFound, "scheduled event %q not found", id)
	}
	sctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	e, err := s.kv.Get(sctx, cronKey(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return status.Errorf(codes.NotFound, "scheduled event %q not found", id)
	}
	if err != nil {
		return s.storeError(ctx, "delete scheduled event", err)
	}
	st, err := decodeCron(&entry{value: e.Value()})
	if err != nil {
		return s.storeError(ctx, "delete scheduled event", err)
	}
	for _, run := range st.Skips {
		if run.First.Equal(first) {
			return status.Errorf(codes.FailedPrecondition, "%q records cron ticks that were skipped; it cannot be cancelled", id)
		}
	}
	return status.Errorf(codes.NotFound, "scheduled event %q not found", id)
}

// storeError maps a KV failure to a gRPC status.
func (s *Scheduler) storeError(ctx context.Context, op string, err error) error {
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return status.Error(codes.Canceled, "request cancelled")
	}
	s.cfg.Logger.WarnContext(ctx, "scheduler: state bucket request failed", "op", op, "error", err)
	return status.Errorf(codes.Unavailable, "%s: the schedule store is unavailable; retry later", op)
}

func (r *oneOffRecord) proto() *adminv1.ScheduledEvent {
	p := &adminv1.ScheduledEvent{
		Id:            r.ID,
		Name:          r.Name,
		ScheduledTime: timestamppb.New(r.ScheduledTime),
		Comment:       r.Comment,
		CreateTime:    timestamppb.New(r.CreateTime),
		Tolerance:     durationpb.New(r.Tolerance),
	}
	switch r.State {
	case stateScheduled:
		p.State = adminv1.ScheduledEventState_SCHEDULED_EVENT_STATE_SCHEDULED
	case stateFired:
		p.State = adminv1.ScheduledEventState_SCHEDULED_EVENT_STATE_FIRED
	case stateCancelled:
		p.State = adminv1.ScheduledEventState_SCHEDULED_EVENT_STATE_CANCELLED
	case stateSkipped:
		p.State = adminv1.ScheduledEventState_SCHEDULED_EVENT_STATE_SKIPPED
	}
	if len(r.Payload) > 0 {
		v := &structpb.Value{}
		if protojson.Unmarshal(r.Payload, v) == nil {
			p.Payload = v
		}
	}
	return p
}

func (run skipRun) proto(schedule string) *adminv1.ScheduledEvent {
	what := "1 tick"
	if run.Count > 1 {
		what = strconv.FormatInt(run.Count, 10) + " ticks"
	}
	return &adminv1.ScheduledEvent{
		Id:            SkippedIDPrefix + TickID(schedule, run.First),
		Name:          schedule,
		ScheduledTime: timestamppb.New(run.First),
		Comment: fmt.Sprintf("cron schedule %s: %s from %s to %s skipped, found more than the tolerance %s late (after downtime); not emitted",
			schedule, what, run.First.UTC().Format(time.RFC3339), run.Last.UTC().Format(time.RFC3339), run.Tolerance),
		State:      adminv1.ScheduledEventState_SCHEDULED_EVENT_STATE_SKIPPED,
		CreateTime: timestamppb.New(run.At),
		Tolerance:  durationpb.New(run.Tolerance),
	}
}

// pageKey orders the list: scheduled time, then id.
type pageKey struct {
	at time.Time
	id string
}

func keyOf(e *adminv1.ScheduledEvent) pageKey {
	return pageKey{e.GetScheduledTime().AsTime(), e.GetId()}
}

func (k pageKey) compare(o pageKey) int {
	if c := k.at.Compare(o.at); c != 0 {
		return c
	}
	return strings.Compare(k.id, o.id)
}

func (k pageKey) encode() string {
	at := strconv.FormatInt(k.at.Unix(), 10) + "." + strconv.Itoa(k.at.Nanosecond())
	return base64.RawURLEncoding.EncodeToString([]byte(at + "|" + k.id))
}

func decodePageToken(tok string) (pageKey, error) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return pageKey{}, err
	}
	at, id, ok := strings.Cut(string(raw), "|")
	secText, nsText, ok2 := strings.Cut(at, ".")
	if !ok || !ok2 || id == "" {
		return pageKey{}, errors.New("malformed")
	}
	sec, err := strconv.ParseInt(secText, 10, 64)
	if err != nil {
		return pageKey{}, err
	}
	ns, err := strconv.Atoi(nsText)
	if err != nil || ns < 0 || ns > 999_999_999 {
		return pageKey{}, errors.New("bad nanoseconds")
	}
	return pageKey{time.Unix(sec, int64(ns)).UTC(), id}, nil
}
