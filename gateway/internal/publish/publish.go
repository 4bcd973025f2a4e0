// Package publish serves hookmesh.event.v1.PublisherService: services emit
// follow-up events into the same log as webhooks, with the same dedupe, delivery,
// retries and tracing.
package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	"github.com/hookmesh/hookmesh/gateway/internal/typeglob"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/grpcauth"
)

// Appender stores an event once per (source, id) and answers only after the log
// acknowledged it; (*eventlog.Log) implements it. Errors wrap eventlog's
// ErrUnavailable / ErrFull (try later) or ErrInvalid / ErrTooLarge (never).
type Appender interface {
	Append(ctx context.Context, ev *eventv1.Event) (eventlog.AppendResult, error)
}

// Config configures a Server.
type Config struct {
	// Log takes the events (required).
	Log Appender
	// RetryAfter is the RetryInfo delay sent with UNAVAILABLE (default 1s).
	RetryAfter time.Duration
	// Now stamps received_time (default time.Now).
	Now func() time.Time
	// Logger (default: discard).
	Logger *slog.Logger
	// Restricted maps a caller (the grpcauth principal, e.g. "publisher:orders")
	// to the event type globs it may publish; another type is PERMISSION_DENIED.
	// Callers not listed (the admin token, an anonymous loopback caller) may
	// publish any type.
	Restricted map[string][]string
}

// Server implements eventv1.PublisherServiceServer.
type Server struct {
	eventv1.UnimplementedPublisherServiceServer
	cfg        Config
	restricted map[string]typeglob.Set
}

// New returns a Server after filling defaults and validating cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		return nil, errors.New("publish: Log is required")
	}
	if cfg.RetryAfter < 0 {
		return nil, errors.New("publish: RetryAfter must not be negative")
	}
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, restricted: map[string]typeglob.Set{}}
	for caller, globs := range cfg.Restricted {
		if len(globs) == 0 {
			return nil, fmt.Errorf("publish: caller %q has no event types", caller)
		}
		s.restricted[caller] = typeglob.CompileAll(globs)
	}
	return s, nil
}

// Publish appends one event. received_time is set here; an empty traceparent is
// taken from the caller's trace context (the gRPC server's otelgrpc handler put
// it in ctx), so deliveries of the follow-up event join the caller's trace.
func (s *Server) Publish(ctx context.Context, req *eventv1.PublishRequest) (*eventv1.PublishResponse, error) {
	if req.GetEvent() == nil {
		return nil, status.Error(codes.InvalidArgument, "event is required")
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"source", req.GetEvent().GetSource()}, {"id", req.GetEvent().GetId()}, {"type", req.GetEvent().GetType()}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, status.Errorf(codes.InvalidArgument, "event %s required", strings.Join(missing, ", "))
	}
	if caller, ok := grpcauth.FromContext(ctx); ok {
		if allowed, restricted := s.restricted[caller]; restricted && !allowed.Match(req.GetEvent().GetType()) {
			return nil, status.Errorf(codes.PermissionDenied, "%s may not publish events of type %q", caller, req.GetEvent().GetType())
		}
	}
	ev := proto.CloneOf(req.GetEvent())
	ev.ReceivedTime = timestamppb.New(s.cfg.Now())
	if ev.GetTraceparent() == "" {
		c := propagation.MapCarrier{}
		propagation.TraceContext{}.Inject(ctx, c)
		ev.Traceparent, ev.Tracestate = c["traceparent"], c["tracestate"]
	}
	res, err := s.cfg.Log.Append(ctx, ev)
	if err != nil {
		return nil, s.toStatus(ctx, ev, err)
	}
	return &eventv1.PublishResponse{EventId: ev.GetId(), Duplicate: res.Duplicate}, nil
}

func (s *Server) toStatus(ctx context.Context, ev *eventv1.Event, err error) error {
	switch {
	case errors.Is(err, eventlog.ErrInvalid), errors.Is(err, eventlog.ErrTooLarge):
		return status.Errorf(codes.InvalidArgument, "event rejected: %v", err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		if ctx.Err() != nil {
			return status.FromContextError(ctx.Err()).Err()
		}
	}
	// Unavailable, full, or anything else the log could not do now: try later.
	s.cfg.Logger.WarnContext(ctx, "publish: log cannot take the event", "source", ev.GetSource(), "event_id", ev.GetId(), "error", err)
	st, derr := status.New(codes.Unavailable, fmt.Sprintf("event log unavailable: %v", err)).
		WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(s.cfg.RetryAfter)})
	if derr != nil {
		return status.Errorf(codes.Unavailable, "event log unavailable: %v", err)
	}
	return st.Err()
}
