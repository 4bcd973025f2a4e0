package grpcapi

import (
	"context"
	"log/slog"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/consumerbatch"
	"github.com/hookmesh/hookmesh/platform/deliverytrace"
	"github.com/hookmesh/hookmesh/services/email/internal/email"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Deliverer applies one event (email.Service).
type Deliverer interface {
	Deliver(ctx context.Context, ev *eventv1.Event) (email.Outcome, error)
}

// Consumer implements hookmesh.consumer.v1.EventConsumerService.
type Consumer struct {
	consumerv1.UnimplementedEventConsumerServiceServer
	svc    Deliverer
	tracer trace.Tracer
	log    *slog.Logger
}

// NewConsumer returns the consumer server; tracer traces each delivery
// (platform/deliverytrace).
func NewConsumer(svc Deliverer, tracer trace.Tracer, log *slog.Logger) *Consumer {
	return &Consumer{svc: svc, tracer: tracer, log: log}
}

// Deliver implements the consumer contract: OK when this delivery sent the
// event's messages or applied its customer directory change (or it has no
// effect here), ALREADY_EXISTS when that happened before, and the codes of
// Status for failures (an orders fact whose customer is not known yet is
// UNAVAILABLE with RetryInfo).
func (c *Consumer) Deliver(ctx context.Context, req *consumerv1.DeliverRequest) (*consumerv1.DeliverResponse, error) {
	ev := req.GetEvent()
	ctx, span := deliverytrace.Start(ctx, c.tracer, req)
	defer span.End()

	out, err := c.svc.Deliver(ctx, ev)
	if err != nil {
		st := Status(err)
		span.SetStatus(otelcodes.Error, status.Code(st).String())
		c.log.WarnContext(ctx, "delivery failed", "event_source", ev.GetSource(), "event_id", ev.GetId(),
			"event_type", ev.GetType(), "code", status.Code(st).String(), "attempt", req.GetAttempt())
		return nil, st
	}
	span.SetAttributes(attribute.String("hookmesh.email.outcome", outcomeName(out)))
	if out == email.AlreadyDone {
		return nil, status.Error(codes.AlreadyExists, "event already processed: its messages were sent")
	}
	return &consumerv1.DeliverResponse{}, nil
}

// DeliverBatch delivers each event of the batch as Deliver would, concurrently,
// so their writes share group commits; each event has its own status and trace.
func (c *Consumer) DeliverBatch(ctx context.Context, req *consumerv1.DeliverBatchRequest) (*consumerv1.DeliverBatchResponse, error) {
	return consumerbatch.Deliver(ctx, req, c.Deliver)
}

// carriesTrace reports whether the call's metadata carried trace context (W3C
// or B3), i.e. whether the server span continues the caller's trace.
func outcomeName(o email.Outcome) string {
	switch o {
	case email.Applied:
		return "sent"
	case email.AlreadyDone:
		return "already_sent"
	case email.DirectoryUpdated:
		return "directory_updated"
	case email.Ignored:
		return "no_effect"
	default:
		return "unknown"
	}
}
