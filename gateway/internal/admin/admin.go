// Package admin implements hookmesh.admin.v1.AdminService: events from the event log,
// and deliveries, dead letters, replays, subscriptions and scheduled events from the
// components that own them (the dispatcher and the scheduler), through small seams.
// A seam left unwired answers UNIMPLEMENTED saying what is missing. The
// dispatcher's operations take plain arguments and return errors of its kinds;
// this package alone turns requests into them and their errors into gRPC codes
// (dispatch.go).
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hookmesh/hookmesh/gateway/internal/dispatch"
	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// Events reads the event log (eventlog.Log). Get returns an error wrapping
// eventlog.ErrNotFound for an unknown event; List pages newest first.
type Events interface {
	Get(ctx context.Context, source, id string) (*eventv1.Event, uint64, error)
	List(ctx context.Context, f eventlog.Filter) ([]*eventv1.Event, string, error)
}

// Deliveries is the per-event delivery state and single-event replay (the
// dispatcher). Deliveries lists one entry per subscription the event was routed
// to or filtered out of. Like the other dispatcher seams, errors are of
// dispatch's kinds (dispatch.ErrNotFound, …), mapped here to gRPC codes.
type Deliveries interface {
	Deliveries(ctx context.Context, ev *eventv1.Event) ([]*adminv1.Delivery, error)
	ReplayEvent(ctx context.Context, source, id string, subscriptions []string) ([]string, error)
}

// DeadLetters lists, resolves and purges dead letters (the dispatcher).
type DeadLetters interface {
	ListDeadLetters(ctx context.Context, q dispatch.DeadLetterQuery) ([]*adminv1.DeadLetter, string, error)
	ResolveDeadLetter(ctx context.Context, id string) (*adminv1.DeadLetter, error)
	PurgeDeadLetters(ctx context.Context, q dispatch.PurgeQuery) (int64, error)
}

// Replays runs bulk replay jobs (the dispatcher); the request is the job's
// stored specification.
type Replays interface {
	CreateReplay(ctx context.Context, req *adminv1.CreateReplayRequest) (*adminv1.Replay, error)
	GetReplay(ctx context.Context, id string) (*adminv1.Replay, error)
}

// Subscriptions reports and pauses subscriptions (the dispatcher).
type Subscriptions interface {
	ListSubscriptions(ctx context.Context) ([]*adminv1.Subscription, error)
	PauseSubscription(ctx context.Context, name string) (*adminv1.Subscription, error)
	ResumeSubscription(ctx context.Context, name string) (*adminv1.Subscription, error)
}

// The dispatcher is every dispatcher seam.
var (
	_ Deliveries    = (*dispatch.Dispatcher)(nil)
	_ DeadLetters   = (*dispatch.Dispatcher)(nil)
	_ Replays       = (*dispatch.Dispatcher)(nil)
	_ Subscriptions = (*dispatch.Dispatcher)(nil)
)

// Schedules manages one-off scheduled events (the scheduler).
type Schedules interface {
	CreateScheduledEvent(ctx context.Context, req *adminv1.CreateScheduledEventRequest) (*adminv1.CreateScheduledEventResponse, error)
	ListScheduledEvents(ctx context.Context, req *adminv1.ListScheduledEventsRequest) (*adminv1.ListScheduledEventsResponse, error)
	DeleteScheduledEvent(ctx context.Context, req *adminv1.DeleteScheduledEventRequest) (*adminv1.DeleteScheduledEventResponse, error)
}

// Config wires the service. Events is required; the rest are optional.
type Config struct {
	Events        Events
	Deliveries    Deliveries
	DeadLetters   DeadLetters
	Replays       Replays
	Subscriptions Subscriptions
	Schedules     Schedules
	Logger        *slog.Logger
}

// Service implements adminv1.AdminServiceServer.
type Service struct {
	adminv1.UnimplementedAdminServiceServer
	cfg Config
}

var _ adminv1.AdminServiceServer = (*Service)(nil)

// New builds the service.
func New(cfg Config) (*Service, error) {
	if cfg.Events == nil {
		return nil, errors.New("admin: Events is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg}, nil
}

const maxPageSize = 1000

// ListEvents lists stored events newest first.
func (s *Service) ListEvents(ctx context.Context, req *adminv1.ListEventsRequest) (*adminv1.ListEventsResponse, error) {
	if req.GetPageSize() < 0 {
		return nil, status.Error(codes.InvalidArgument, "page_size must not be negative")
	}
	f := eventlog.Filter{
		Source:   req.GetSource(),
		TypeGlob: req.GetType(),
		Limit:    int(min(req.GetPageSize(), maxPageSize)),
		Cursor:   req.GetPageToken(),
	}
	if req.GetSince() != nil {
		if err := req.GetSince().CheckValid(); err != nil {
			return nil, status.Error(codes.InvalidArgument, "since is not a valid time")
		}
		f.Since = req.GetSince().AsTime()
	}
	if req.GetUntil() != nil {
		if err := req.GetUntil().CheckValid(); err != nil {
			return nil, status.Error(codes.InvalidArgument, "until is not a valid time")
		}
		f.Until = req.GetUntil().AsTime()
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return nil, status.Error(codes.InvalidArgument, "since must be before until")
	}
	events, next, err := s.cfg.Events.List(ctx, f)
	if err != nil {
		return nil, s.logError(ctx, "list events", err)
	}
	return &adminv1.ListEventsResponse{Events: events, NextPageToken: next}, nil
}

// GetEvent returns one event and, when the dispatcher is wired, its deliveries.
func (s *Service) GetEvent(ctx context.Context, req *adminv1.GetEventRequest) (*adminv1.GetEventResponse, error) {
	if req.GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "id is required")
	}
	ev, _, err := s.cfg.Events.Get(ctx, req.GetSource(), req.GetId())
	if err != nil {
		return nil, s.logError(ctx, "get event", err)
	}
	resp := &adminv1.GetEventResponse{Event: ev}
	if s.cfg.Deliveries != nil {
		d, err := s.cfg.Deliveries.Deliveries(ctx, ev)
		if err != nil {
			return nil, dispatchStatus(err)
		}
		resp.Deliveries = d
	}
	return resp, nil
}

// CreateScheduledEvent schedules a one-off event.
func (s *Service) CreateScheduledEvent(ctx context.Context, req *adminv1.CreateScheduledEventRequest) (*adminv1.CreateScheduledEventResponse, error) {
	if s.cfg.Schedules == nil {
		return nil, missing("scheduled events", "scheduler")
	}
	return s.cfg.Schedules.CreateScheduledEvent(ctx, req)
}

// ListScheduledEvents lists one-off events.
func (s *Service) ListScheduledEvents(ctx context.Context, req *adminv1.ListScheduledEventsRequest) (*adminv1.ListScheduledEventsResponse, error) {
	if s.cfg.Schedules == nil {
		return nil, missing("scheduled events", "scheduler")
	}
	return s.cfg.Schedules.ListScheduledEvents(ctx, req)
}

// DeleteScheduledEvent cancels a one-off event.
func (s *Service) DeleteScheduledEvent(ctx context.Context, req *adminv1.DeleteScheduledEventRequest) (*adminv1.DeleteScheduledEventResponse, error) {
	if s.cfg.Schedules == nil {
		return nil, missing("scheduled events", "scheduler")
	}
	return s.cfg.Schedules.DeleteScheduledEvent(ctx, req)
}

func missing(what, component string) error {
	return status.Error(codes.Unimplemented, fmt.Sprintf("%s are served by the %s, which is not running in this gateway", what, component))
}

// logError maps event log errors to gRPC codes; statuses pass through.
func (s *Service) logError(ctx context.Context, op string, err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, eventlog.ErrNotFound):
		return status.Error(codes.NotFound, "event not found")
	case errors.Is(err, eventlog.ErrInvalid):
		return status.Error(codes.InvalidArgument, invalidReason(err))
	case errors.Is(err, eventlog.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.Unavailable, "the event log is unavailable; retry later")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request cancelled")
	}
	s.cfg.Logger.ErrorContext(ctx, "admin request failed", "op", op, "error", err)
	return status.Error(codes.Internal, op+" failed")
}

// invalidReason keeps the log's explanation of a bad filter, cursor or id.
func invalidReason(err error) string {
	if ie, ok := errors.AsType[*eventlog.InvalidError](err); ok {
		return ie.Reason
	}
	return err.Error()
}
