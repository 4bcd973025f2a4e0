package grpcapi

import (
	"context"
	"errors"
	"log/slog"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	"github.com/hookmesh/hookmesh/platform/consumerbatch"
	"github.com/hookmesh/hookmesh/platform/deliverytrace"
	"github.com/hookmesh/hookmesh/services/analytics/internal/analytics"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/status"
)

// Recorder stores records durably (the group committer).
type Recorder interface {
	// Submit returns nil once rec is committed, analytics.ErrDuplicate when its
	// (source, id) was applied before, or why it was not stored.
	Submit(ctx context.Context, rec analytics.Record) error
}

// Consumer implements hookmesh.consumer.v1.EventConsumerService.
type Consumer struct {
	consumerv1.UnimplementedEventConsumerServiceServer
	tracker  *analytics.Tracker
	recorder Recorder
	tracer   trace.Tracer
	log      *slog.Logger
}

// NewConsumer returns the consumer server; tracer traces each delivery
// (platform/deliverytrace).
func NewConsumer(tracker *analytics.Tracker, recorder Recorder, tracer trace.Tracer, log *slog.Logger) (*Consumer, error) {
	if tracker == nil || recorder == nil || tracer == nil || log == nil {
		return nil, errors.New("grpcapi: consumer needs a tracker, a recorder, a tracer and a logger")
	}
	return &Consumer{tracker: tracker, recorder: recorder, tracer: tracer, log: log}, nil
}

// Deliver implements the consumer contract: OK once the event is stored (never
// before), ALREADY_EXISTS when it was stored before, INVALID_ARGUMENT for an event
// that can never be stored, and retry codes when the store cannot take it now.
func (c *Consumer) Deliver(ctx context.Context, req *consumerv1.DeliverRequest) (*consumerv1.DeliverResponse, error) {
	ev := req.GetEvent()
	ctx, span := deliverytrace.Start(ctx, c.tracer, req)
	defer span.End()

	rec, err := c.tracker.Track(ev)
	if err == nil {
		span.SetAttributes(attribute.String("hookmesh.analytics.name", rec.Name))
		err = c.recorder.Submit(ctx, rec)
	}
	if err != nil {
		st := Status(err)
		code := status.Code(st)
		if !errors.Is(err, analytics.ErrDuplicate) {
			span.SetStatus(otelcodes.Error, code.String())
			c.log.WarnContext(ctx, "delivery failed", "event_source", ev.GetSource(), "event_id", ev.GetId(),
				"event_type", ev.GetType(), "code", code.String(), "attempt", req.GetAttempt(), "error", err.Error())
		}
		span.SetAttributes(attribute.String("rpc.grpc.status", code.String()))
		return nil, st
	}
	return &consumerv1.DeliverResponse{}, nil
}

// DeliverBatch delivers each event of the batch as Deliver would, concurrently,
// so their writes share group commits; each event has its own status and trace.
func (c *Consumer) DeliverBatch(ctx context.Context, req *consumerv1.DeliverBatchRequest) (*consumerv1.DeliverBatchResponse, error) {
	return consumerbatch.Deliver(ctx, req, c.Deliver)
}

// carriesTrace reports whether the call's metadata carried trace context (W3C or
// B3), i.e. whether the server span continues the caller's trace.
