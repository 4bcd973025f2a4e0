package orders

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"go.opentelemetry.io/otel/propagation"
)

// Fulfilment is everything an order's completion writes in its transaction.
type Fulfilment struct {
	Shipment     Shipment
	Notification Notification
	Fact         Fact
}

// Demand sums an order's items per SKU, sorted by SKU so that concurrent
// completions lock stock rows in the same order.
func Demand(items []Item) []Item {
	sum := map[string]int64{}
	for _, it := range items {
		sum[it.SKU] += it.Quantity
	}
	out := make([]Item, 0, len(sum))
	for sku, q := range sum {
		out = append(out, Item{SKU: sku, Quantity: q})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SKU < out[j].SKU })
	return out
}

// PlanFulfilment builds the shipment, the fulfillment notification and the
// orders.shipment.created fact of a completing order. email is the customer's
// email if known (empty otherwise).
func PlanFulfilment(row OrderRow, email string, completedAt, now time.Time, cause EventRef, trace Trace) (Fulfilment, error) {
	tracking, err := NewTrackingNumber()
	if err != nil {
		return Fulfilment{}, err
	}
	sh := Shipment{
		ID:             ShipmentID(row.ID),
		OrderID:        row.ID,
		CustomerID:     row.CustomerID,
		TrackingNumber: tracking,
		Items:          row.Items,
		TotalCents:     row.TotalCents,
		CompletedAt:    completedAt,
		CreatedAt:      now,
	}
	body, err := json.Marshal(map[string]any{
		"type":      "shipment.created",
		"timestamp": now.UTC().Format(time.RFC3339Nano),
		"data":      shipmentData(sh),
	})
	if err != nil {
		return Fulfilment{}, fmt.Errorf("encode fulfillment notification: %w", err)
	}
	data := shipmentData(sh)
	if email != "" {
		data["customer_email"] = email
	}
	return Fulfilment{
		Shipment: sh,
		Notification: Notification{
			ID: NotificationID(row.ID), OrderID: row.ID, ShipmentID: sh.ID, Body: body, Trace: trace,
			Status: NotificationPending, NextAttemptAt: now, CreatedAt: now,
		},
		Fact: Fact{
			ID: ShipmentCreatedID(row.ID), Type: TypeShipmentCreated, Subject: "orders/" + row.ID,
			Data: data, CausedBy: cause, Time: now, Trace: trace,
		},
	}, nil
}

// StockInsufficientFact is the orders.stock.insufficient event for an order that
// could not be fulfilled.
func StockInsufficientFact(e *InsufficientStockError, email string, now time.Time, cause EventRef, trace Trace) Fact {
	short := make([]any, len(e.Shortages))
	for i, s := range e.Shortages {
		short[i] = map[string]any{"sku": s.SKU, "requested": s.Requested, "available": s.Available}
	}
	data := map[string]any{
		"order_id":    e.Order.ID,
		"customer_id": e.Order.CustomerID,
		"items":       itemsData(e.Order.Items),
		"total":       FormatCents(e.Order.TotalCents),
		"total_cents": e.Order.TotalCents,
		"shortages":   short,
		"reason":      e.Error(),
	}
	if email != "" {
		data["customer_email"] = email
	}
	return Fact{
		ID: StockInsufficientID(cause), Type: TypeStockInsufficient, Subject: "orders/" + e.Order.ID,
		Data: data, CausedBy: cause, Time: now, Trace: trace,
	}
}

func shipmentData(s Shipment) map[string]any {
	return map[string]any{
		"shipment_id":     s.ID,
		"order_id":        s.OrderID,
		"customer_id":     s.CustomerID,
		"tracking_number": s.TrackingNumber,
		"items":           itemsData(s.Items),
		"total":           FormatCents(s.TotalCents),
		"total_cents":     s.TotalCents,
		"completed_at":    s.CompletedAt.UTC().Format(time.RFC3339Nano),
	}
}

func itemsData(items []Item) []any {
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = map[string]any{
			"sku": it.SKU, "quantity": it.Quantity,
			"price": FormatCents(it.PriceCents), "price_cents": it.PriceCents,
		}
	}
	return out
}

// TraceFromContext captures ctx's span as W3C trace context for an outbox row.
func TraceFromContext(ctx context.Context) Trace {
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return Trace{Parent: c.Get("traceparent"), State: c.Get("tracestate")}
}

// Context returns ctx carrying t as the remote parent span (ctx unchanged when t is empty).
func (t Trace) Context(ctx context.Context) context.Context {
	if t.Parent == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": t.Parent, "tracestate": t.State})
}
