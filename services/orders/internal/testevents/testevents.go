// Package testevents builds the events the orders service consumes, shaped as the
// gateway delivers them (Hasura table events, Stripe webhooks, billing ticks), for
// tests. The Stripe source is built in parallel: these follow Stripe's event JSON.
package testevents

import (
	"encoding/json"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// Item is one element of orders.items.
type Item struct {
	SKU      string
	Quantity int
	Price    float64
}

// OrderRow is an orders table row; total is the items' sum.
func OrderRow(id, customer, status string, items ...Item) map[string]any {
	list := make([]any, len(items))
	total := 0.0
	for i, it := range items {
		list[i] = map[string]any{"sku": it.SKU, "quantity": it.Quantity, "price": it.Price}
		total += float64(it.Quantity) * it.Price
	}
	return map[string]any{
		"id": id, "customer_id": customer, "status": status, "items": list,
		"total": float64(int64(total*100+0.5)) / 100, "created_at": "2026-05-01T09:00:00.123456+00:00",
	}
}

var ops = map[string]eventv1.HasuraOperation{
	"insert": eventv1.HasuraOperation_HASURA_OPERATION_INSERT,
	"update": eventv1.HasuraOperation_HASURA_OPERATION_UPDATE,
	"delete": eventv1.HasuraOperation_HASURA_OPERATION_DELETE,
	"manual": eventv1.HasuraOperation_HASURA_OPERATION_MANUAL,
}

// Table is a hasura.public.<table>.<op> event with id; old/new may be nil.
func Table(id, table, op string, old, new map[string]any, at time.Time) *eventv1.Event {
	ht := &eventv1.HasuraTableEvent{
		Op: ops[op], Schema: "public", Table: table, TriggerName: table + "_all",
		CreatedAt: timestamppb.New(at),
	}
	if old != nil {
		ht.Old = mustStruct(old)
	}
	if new != nil {
		ht.New = mustStruct(new)
	}
	subject := "public." + table
	if row := firstNonNil(new, old); row != nil {
		if key, ok := row["id"].(string); ok {
			subject += "/" + key
		} else if key, ok := row["sku"].(string); ok {
			subject += "/" + key
		}
	}
	return &eventv1.Event{
		Id: id, Source: "hasura", Type: "hasura.public." + table + "." + op, Subject: subject,
		Time: timestamppb.New(at), ReceivedTime: timestamppb.New(at), Datacontenttype: "application/json",
		Payload: &eventv1.Event_HasuraTable{HasuraTable: ht},
	}
}

// Order is a hasura.public.orders.<op> event.
func Order(id, op string, old, new map[string]any, at time.Time) *eventv1.Event {
	return Table(id, "orders", op, old, new, at)
}

// Completion is the update that moves an order from pending to completed.
func Completion(id, orderID, customer string, at time.Time, items ...Item) *eventv1.Event {
	return Order(id, "update", OrderRow(orderID, customer, "pending", items...), OrderRow(orderID, customer, "completed", items...), at)
}

// InventoryRow is an inventory table row.
func InventoryRow(sku string, qty int) map[string]any {
	return map[string]any{"sku": sku, "name": "Product " + sku, "quantity": qty}
}

// Inventory is a hasura.public.inventory.<op> event.
func Inventory(id, op string, old, new map[string]any, at time.Time) *eventv1.Event {
	return Table(id, "inventory", op, old, new, at)
}

// Stripe is a stripe.<typ> event whose payload is the Stripe event JSON with object
// as data.object.
func Stripe(id, typ string, object map[string]any, created time.Time) *eventv1.Event {
	body := map[string]any{
		"id": id, "object": "event", "type": typ, "created": created.Unix(), "livemode": false,
		"api_version": "2024-06-20", "data": map[string]any{"object": object},
	}
	raw, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	v, err := structpb.NewValue(roundTrip(raw))
	if err != nil {
		panic(err)
	}
	return &eventv1.Event{
		Id: id, Source: "stripe", Type: "stripe." + typ, Time: timestamppb.New(created), ReceivedTime: timestamppb.New(created),
		Datacontenttype: "application/json", OriginalBody: raw,
		Payload: &eventv1.Event_Provider{Provider: &eventv1.ProviderWebhook{Provider: "stripe", ProviderEventType: typ, Payload: v}},
	}
}

// PaymentIntent is a Stripe PaymentIntent for an order (orderID "" leaves metadata empty).
func PaymentIntent(piID, orderID string, amount int64, email string) map[string]any {
	md := map[string]any{}
	if orderID != "" {
		md["order_id"] = orderID
	}
	pi := map[string]any{
		"id": piID, "object": "payment_intent", "amount": amount, "amount_received": amount, "currency": "usd",
		"status": "succeeded", "metadata": md, "receipt_email": nil, "last_payment_error": nil,
	}
	if email != "" {
		pi["receipt_email"] = email
	}
	return pi
}

// FailedPaymentIntent is a PaymentIntent whose last attempt failed.
func FailedPaymentIntent(piID, orderID string, amount int64, message string) map[string]any {
	pi := PaymentIntent(piID, orderID, amount, "")
	pi["status"] = "requires_payment_method"
	pi["last_payment_error"] = map[string]any{"code": "card_declined", "message": message}
	return pi
}

// Subscription is a Stripe subscription with one recurring price; shopCustomer
// goes to metadata.customer_id when not empty.
func Subscription(subID, stripeCustomer, shopCustomer string, unitAmount int64, interval string, start time.Time) map[string]any {
	md := map[string]any{}
	if shopCustomer != "" {
		md["customer_id"] = shopCustomer
	}
	return map[string]any{
		"id": subID, "object": "subscription", "customer": stripeCustomer, "status": "active", "currency": "usd",
		"metadata": md, "start_date": start.Unix(), "created": start.Unix(), "ended_at": nil, "canceled_at": nil,
		"items": map[string]any{"object": "list", "data": []any{map[string]any{
			"id": "si_" + subID, "quantity": 1,
			"price": map[string]any{"id": "price_1", "unit_amount": unitAmount, "currency": "usd",
				"recurring": map[string]any{"interval": interval, "interval_count": 1}},
		}}},
	}
}

// BillingTick is a billing cron tick: source "hookmesh" gives cron.billing, source
// "hasura" hasura.cron.billing.
func BillingTick(source, id string, scheduled time.Time) *eventv1.Event {
	typ, scheduler := "cron.billing", "hookmesh"
	if source == "hasura" {
		typ, scheduler = "hasura.cron.billing", "hasura"
	}
	return &eventv1.Event{
		Id: id, Source: source, Type: typ, Time: timestamppb.New(scheduled), ReceivedTime: timestamppb.New(scheduled),
		Payload: &eventv1.Event_Scheduled{Scheduled: &eventv1.ScheduledEvent{
			Kind: eventv1.ScheduledKind_SCHEDULED_KIND_CRON, Name: "billing", Scheduler: scheduler,
			ScheduledTime: timestamppb.New(scheduled),
		}},
	}
}

func mustStruct(m map[string]any) *structpb.Struct {
	raw, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	s, err := structpb.NewStruct(roundTrip(raw).(map[string]any))
	if err != nil {
		panic(err)
	}
	return s
}

// roundTrip decodes JSON as the gateway does (numbers become float64).
func roundTrip(raw []byte) any {
	var v any
	d := json.NewDecoder(strings.NewReader(string(raw)))
	if err := d.Decode(&v); err != nil {
		panic(err)
	}
	return v
}

func firstNonNil(a, b map[string]any) map[string]any {
	if a != nil {
		return a
	}
	return b
}
