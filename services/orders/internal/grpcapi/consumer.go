package grpcapi

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/consumerbatch"
	"github.com/hookmesh/hookmesh/platform/deliverytrace"
	"github.com/hookmesh/hookmesh/services/orders/internal/orders"
)

// Applier applies decoded events; *orders.Service implements it. Each method
// applies its effect once per ref (ErrConflict after that).
type Applier interface {
	ApplyStock(ctx context.Context, ref orders.EventRef, c orders.StockChange) error
	ApplyOrder(ctx context.Context, ref orders.EventRef, c orders.OrderChange) error
	ApplyPayment(ctx context.Context, ref orders.EventRef, p orders.Payment) error
	ApplySubscription(ctx context.Context, ref orders.EventRef, c orders.SubscriptionChange) error
	Bill(ctx context.Context, ref orders.EventRef, scheduled time.Time) ([]orders.Invoice, error)
}

// Consumer implements hookmesh.consumer.v1.EventConsumerService for the orders
// subscription: hasura.public.orders.*, hasura.public.inventory.*, stripe.*,
// cron.billing and hasura.cron.billing. Other events are acknowledged unchanged.
type Consumer struct {
	consumerv1.UnimplementedEventConsumerServiceServer
	app    Applier
	tracer trace.Tracer
	logger *slog.Logger
}

// NewConsumer returns the consumer server. tracer (nil: none) traces each
// delivery's work as "process orders" (platform/deliverytrace).
func NewConsumer(app Applier, tracer trace.Tracer, logger *slog.Logger) (*Consumer, error) {
	if app == nil {
		return nil, errors.New("grpcapi: Applier is required")
	}
	if tracer == nil {
		tracer = noop.NewTracerProvider().Tracer("")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Consumer{app: app, tracer: tracer, logger: logger}, nil
}

// Deliver applies one event. See the EventConsumerService contract for the codes.
func (c *Consumer) Deliver(ctx context.Context, req *consumerv1.DeliverRequest) (*consumerv1.DeliverResponse, error) {
	ev := req.GetEvent()
	if ev == nil || ev.GetId() == "" || ev.GetSource() == "" {
		return nil, status.Error(codes.InvalidArgument, "event with source and id is required")
	}
	ctx, span := deliverytrace.Start(ctx, c.tracer, req)
	defer span.End()
	if err := ctx.Err(); err != nil {
		return nil, c.fail(ctx, span, err)
	}
	handled, err := c.apply(ctx, ev)
	span.SetAttributes(attribute.Bool("hookmesh.orders.handled", handled))
	if err != nil {
		if errors.Is(err, orders.ErrConflict) {
			c.logger.DebugContext(ctx, "event seen before", "source", ev.GetSource(), "event_id", ev.GetId())
		} else if errors.Is(err, orders.ErrInvalid) {
			c.logger.WarnContext(ctx, "event rejected", "source", ev.GetSource(), "event_id", ev.GetId(), "type", ev.GetType(), "error", err.Error())
		}
		return nil, c.fail(ctx, span, err)
	}
	if !handled {
		c.logger.DebugContext(ctx, "event not for orders, acknowledged", "event_id", ev.GetId(), "type", ev.GetType())
	}
	return &consumerv1.DeliverResponse{}, nil
}

// DeliverBatch delivers each event of the batch as Deliver would, concurrently,
// so their writes share group commits; each event has its own status and trace.
func (c *Consumer) DeliverBatch(ctx context.Context, req *consumerv1.DeliverBatchRequest) (*consumerv1.DeliverBatchResponse, error) {
	return consumerbatch.Deliver(ctx, req, c.Deliver)
}

// fail answers err as a status and marks the span (ALREADY_EXISTS is done, not an error).
func (c *Consumer) fail(ctx context.Context, span trace.Span, err error) error {
	st := toStatus(ctx, c.logger, err)
	code := status.Code(st)
	span.SetAttributes(attribute.String("rpc.grpc.status", code.String()))
	if code != codes.AlreadyExists {
		span.SetStatus(otelcodes.Error, code.String())
	}
	return st
}

func (c *Consumer) apply(ctx context.Context, ev *eventv1.Event) (bool, error) {
	ref := orders.EventRef{Source: ev.GetSource(), ID: ev.GetId()}
	switch {
	case ev.GetHasuraTable() != nil:
		ht := ev.GetHasuraTable()
		if ht.GetSchema() != "public" {
			return false, nil
		}
		switch ht.GetTable() {
		case "orders":
			ch, err := decodeOrderChange(ev, ht)
			if err != nil {
				return true, err
			}
			return true, c.app.ApplyOrder(ctx, ref, ch)
		case "inventory":
			ch, err := decodeStockChange(ht)
			if err != nil {
				return true, err
			}
			return true, c.app.ApplyStock(ctx, ref, ch)
		}
	case ev.GetScheduled() != nil:
		sc := ev.GetScheduled()
		if sc.GetName() != "billing" && ev.GetType() != "cron.billing" && ev.GetType() != "hasura.cron.billing" {
			return false, nil
		}
		at := time.Time{}
		if sc.GetScheduledTime() != nil {
			at = sc.GetScheduledTime().AsTime()
		}
		_, err := c.app.Bill(ctx, ref, at)
		return true, err
	case ev.GetProvider().GetProvider() == "stripe" || strings.HasPrefix(ev.GetType(), "stripe."):
		return c.applyStripe(ctx, ref, ev)
	case strings.HasPrefix(ev.GetType(), "hasura.public.orders.") || strings.HasPrefix(ev.GetType(), "hasura.public.inventory."):
		return true, orders.Invalidf("%s event has no Hasura table payload", ev.GetType())
	case ev.GetType() == "cron.billing" || ev.GetType() == "hasura.cron.billing":
		return true, orders.Invalidf("%s event has no scheduled payload", ev.GetType())
	}
	return false, nil
}

func (c *Consumer) applyStripe(ctx context.Context, ref orders.EventRef, ev *eventv1.Event) (bool, error) {
	typ := ev.GetProvider().GetProviderEventType()
	if typ == "" {
		typ = strings.TrimPrefix(ev.GetType(), "stripe.")
	}
	switch typ {
	case "payment_intent.succeeded", "payment_intent.payment_failed",
		"customer.subscription.created", "customer.subscription.deleted":
	default:
		return false, nil
	}
	se, err := stripePayload(ev, ev.GetProvider())
	if err != nil {
		return true, err
	}
	switch typ {
	case "payment_intent.succeeded", "payment_intent.payment_failed":
		p, ok, err := decodePayment(ev, se, typ == "payment_intent.succeeded")
		if err != nil || !ok {
			return ok, err
		}
		return true, c.app.ApplyPayment(ctx, ref, p)
	default:
		ch, err := decodeSubscription(ev, se, typ == "customer.subscription.deleted")
		if err != nil {
			return true, err
		}
		return true, c.app.ApplySubscription(ctx, ref, ch)
	}
}
