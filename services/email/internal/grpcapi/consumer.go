package grpcapi

import (
	"context"
	"log/slog"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/services/email/internal/email"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Deliverer applies one event (email.Service).
type Deliverer interface {
	Deliver(ctx context.Context, ev *eventv1.Event) (email.Outcome, error)
}

// Consumer implements hookmesh.consumer.v1.EventConsumerService.
type Consumer struct {
	consumerv1.UnimplementedEventConsumerServiceServer
	svc         Deliverer
	tracer      trace.Tracer
	propagators propagation.TextMapPropagator
	log         *slog.Logger
}

// NewConsumer returns the consumer server. tracer and propagators continue
// the trace stored in the event when the call itself carried none.
func NewConsumer(svc Deliverer, tracer trace.Tracer, propagators propagation.TextMapPropagator, log *slog.Logger) *Consumer {
	return &Consumer{svc: svc, tracer: tracer, propagators: propagators, log: log}
}

// Deliver implements the consumer contract: OK when this delivery sent the
// event's messages or applied its customer directory change (or it has no
// effect here), ALREADY_EXISTS when that happened before, and the codes of
// Status for failures (an orders fact whose customer is not known yet is
// UNAVAILABLE with RetryInfo).
func (c *Consumer) Deliver(ctx context.Context, req *consumerv1.DeliverRequest) (*consumerv1.DeliverResponse, error) {
	ev := req.GetEvent()
	var opts []trace.SpanStartOption
	if ev.GetTraceparent() != "" && !carriesTrace(ctx) {
		// The call started a new trace: continue the event's stored one
		// instead, linked to the call's span.
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: trace.SpanContextFromContext(ctx)}))
		ctx = c.propagators.Extract(ctx, propagation.MapCarrier{"traceparent": ev.GetTraceparent(), "tracestate": ev.GetTracestate()})
	}
	ctx, span := c.tracer.Start(ctx, "email.deliver", append(opts, trace.WithAttributes(
		attribute.String("hookmesh.event.source", ev.GetSource()),
		attribute.String("hookmesh.event.id", ev.GetId()),
		attribute.String("hookmesh.event.type", ev.GetType()),
		attribute.String("hookmesh.subscription", req.GetSubscription()),
		attribute.Int("hookmesh.attempt", int(req.GetAttempt())),
		attribute.Bool("hookmesh.replay", req.GetReplay()),
	))...)
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

// carriesTrace reports whether the call's metadata carried trace context (W3C
// or B3), i.e. whether the server span continues the caller's trace.
func carriesTrace(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	return len(md.Get("traceparent")) > 0 || len(md.Get("b3")) > 0 || len(md.Get("x-b3-traceid")) > 0
}

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
