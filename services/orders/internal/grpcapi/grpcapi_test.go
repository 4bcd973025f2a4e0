package grpcapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	ordersv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/orders/v1"
	"github.com/hookmesh/hookmesh/platform/consumertest"
	"github.com/hookmesh/hookmesh/platform/grpcserver/grpcservertest"
	"github.com/hookmesh/hookmesh/platform/sqlstore"
	"github.com/hookmesh/hookmesh/platform/sqlstore/sqlstoretest"
	"github.com/hookmesh/hookmesh/services/orders/internal/grpcapi"
	"github.com/hookmesh/hookmesh/services/orders/internal/orders"
	"github.com/hookmesh/hookmesh/services/orders/internal/store"
	ev "github.com/hookmesh/hookmesh/services/orders/internal/testevents"
)

var t0 = time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)

type env struct {
	st       *store.Store
	consumer consumerv1.EventConsumerServiceClient
	orders   ordersv1.OrdersServiceClient
}

func newEnv(t testing.TB, db *sqlstore.DB) *env {
	t.Helper()
	st := store.New(db, nil)
	dom, err := orders.NewService(orders.ServiceConfig{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	c, err := grpcapi.NewConsumer(dom, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := grpcapi.NewOrders(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn := grpcservertest.MustStart(t, func(s *grpc.Server) {
		consumerv1.RegisterEventConsumerServiceServer(s, c)
		ordersv1.RegisterOrdersServiceServer(s, r)
	})
	return &env{st: st, consumer: consumerv1.NewEventConsumerServiceClient(conn), orders: ordersv1.NewOrdersServiceClient(conn)}
}

func (e *env) deliver(t testing.TB, event *eventv1.Event) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err := e.consumer.Deliver(ctx, &consumerv1.DeliverRequest{Event: event, Subscription: "orders", Attempt: 1})
	return err
}

func (e *env) mustDeliver(t testing.TB, event *eventv1.Event) {
	t.Helper()
	if err := e.deliver(t, event); err != nil {
		t.Fatalf("deliver %s %s: %v", event.GetType(), event.GetId(), err)
	}
}

func (e *env) level(t testing.TB, sku string) int64 {
	t.Helper()
	resp, err := e.orders.ListStock(t.Context(), &ordersv1.ListStockRequest{PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range resp.GetLevels() {
		if l.GetSku() == sku {
			return l.GetQuantity()
		}
	}
	return 0
}

func (e *env) order(t *testing.T, id string) *ordersv1.Order {
	t.Helper()
	resp, err := e.orders.GetOrder(t.Context(), &ordersv1.GetOrderRequest{Id: id})
	if err != nil {
		t.Fatalf("GetOrder %s: %v", id, err)
	}
	return resp.GetOrder()
}

func TestConformance(t *testing.T) {
	sqlstoretest.ForEachDialect(t, store.Migrations, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db)
		consumertest.Run(t, consumertest.Config{
			Client: e.consumer,
			// Each id restocks its own SKU by one: a second effect would show as 2.
			NewEvent: func(id string) *eventv1.Event {
				return ev.Inventory(id, "update", ev.InventoryRow("sku-"+id, 0), ev.InventoryRow("sku-"+id, 1), t0)
			},
			Invalid: ev.Order("invalid-1", "insert", nil, map[string]any{"id": "bad-order", "customer_id": "c", "status": "pending", "items": "not json"}, t0),
			Effects: func(t testing.TB, event *eventv1.Event) int {
				switch event.GetHasuraTable().GetTable() {
				case "inventory":
					return int(e.level(t, "sku-"+event.GetId()))
				default:
					_, err := e.orders.GetOrder(t.Context(), &ordersv1.GetOrderRequest{Id: "bad-order"})
					if status.Code(err) == codes.NotFound {
						return 0
					}
					return 1
				}
			},
		})
	})
}

func TestDeliverCodes(t *testing.T) {
	e := newEnv(t, sqlstoretest.SQLite(t, store.Migrations))
	row := func(mut func(map[string]any)) map[string]any {
		r := ev.OrderRow("o-x", "c1", "pending", ev.Item{SKU: "A", Quantity: 1, Price: 2.5})
		mut(r)
		return r
	}
	noOp := ev.Order("e-noop", "insert", nil, row(func(map[string]any) {}), t0)
	noOp.GetHasuraTable().Op = eventv1.HasuraOperation_HASURA_OPERATION_UNSPECIFIED
	noScheduled := ev.BillingTick("hookmesh", "tick-none", t0)
	noScheduled.GetScheduled().ScheduledTime = nil
	tiered := ev.Subscription("sub_t", "cus_1", "", 0, "month", t0)
	tiered["items"].(map[string]any)["data"].([]any)[0].(map[string]any)["price"].(map[string]any)["unit_amount"] = nil
	github := &eventv1.Event{Id: "gh-1", Source: "github", Type: "github.push",
		Payload: &eventv1.Event_Provider{Provider: &eventv1.ProviderWebhook{Provider: "github", ProviderEventType: "push"}}}
	otherCron := ev.BillingTick("hookmesh", "tick-daily", t0)
	otherCron.Type, otherCron.GetScheduled().Name = "cron.daily-report", "daily-report"
	users := ev.Table("u-1", "users", "insert", nil, map[string]any{"id": "u1", "email": "a@example.com"}, t0)
	otherSchema := ev.Order("e-audit", "insert", nil, row(func(map[string]any) {}), t0)
	otherSchema.GetHasuraTable().Schema = "audit"

	tests := []struct {
		name  string
		event *eventv1.Event
		want  codes.Code
	}{
		{"no operation", noOp, codes.InvalidArgument},
		{"update without new row", ev.Order("e-nonew", "update", row(func(map[string]any) {}), nil, t0), codes.InvalidArgument},
		{"delete without old row", ev.Order("e-noold", "delete", nil, nil, t0), codes.InvalidArgument},
		{"fractional quantity", ev.Order("e-frac", "insert", nil, row(func(r map[string]any) { r["items"] = []any{map[string]any{"sku": "A", "quantity": 1.5}} }), t0), codes.InvalidArgument},
		{"string quantity that is no number", ev.Order("e-qs", "insert", nil, row(func(r map[string]any) { r["items"] = []any{map[string]any{"sku": "A", "quantity": "two"}} }), t0), codes.InvalidArgument},
		{"item that is no object", ev.Order("e-io", "insert", nil, row(func(r map[string]any) { r["items"] = []any{"A"} }), t0), codes.InvalidArgument},
		{"items that are no array", ev.Order("e-ia", "insert", nil, row(func(r map[string]any) { r["items"] = 7 }), t0), codes.InvalidArgument},
		{"price in fractions of a cent", ev.Order("e-pc", "insert", nil, row(func(r map[string]any) {
			r["items"] = []any{map[string]any{"sku": "A", "quantity": 1, "price": "1.999"}}
		}), t0), codes.InvalidArgument},
		{"total that is no number", ev.Order("e-tot", "insert", nil, row(func(r map[string]any) { r["total"] = "abc" }), t0), codes.InvalidArgument},
		{"created_at that is no time", ev.Order("e-ts", "insert", nil, row(func(r map[string]any) { r["created_at"] = "yesterday" }), t0), codes.InvalidArgument},
		{"no customer", ev.Order("e-cust", "insert", nil, row(func(r map[string]any) { delete(r, "customer_id") }), t0), codes.InvalidArgument},
		{"no order id", ev.Order("e-id", "insert", nil, row(func(r map[string]any) { delete(r, "id") }), t0), codes.InvalidArgument},
		{"id that is an object", ev.Order("e-ido", "insert", nil, row(func(r map[string]any) { r["id"] = map[string]any{} }), t0), codes.InvalidArgument},
		{"inventory without sku", ev.Inventory("e-i1", "insert", nil, map[string]any{"quantity": 3}, t0), codes.InvalidArgument},
		{"inventory without quantity", ev.Inventory("e-i2", "insert", nil, map[string]any{"sku": "Q"}, t0), codes.InvalidArgument},
		{"inventory with a negative level", ev.Inventory("e-i3", "insert", nil, ev.InventoryRow("Q", -1), t0), codes.InvalidArgument},
		{"inventory update renaming the sku", ev.Inventory("e-i4", "update", ev.InventoryRow("Q", 1), ev.InventoryRow("R", 2), t0), codes.InvalidArgument},
		{"inventory delete without old row", ev.Inventory("e-i5", "delete", nil, nil, t0), codes.InvalidArgument},
		{"stripe event without object", ev.Stripe("evt_1", "payment_intent.succeeded", nil, t0), codes.InvalidArgument},
		{"subscription without items", ev.Stripe("evt_2", "customer.subscription.created", map[string]any{"id": "sub_1", "customer": "cus_1"}, t0), codes.InvalidArgument},
		{"subscription with a tiered price", ev.Stripe("evt_3", "customer.subscription.created", tiered, t0), codes.InvalidArgument},
		{"subscription without customer", ev.Stripe("evt_4", "customer.subscription.created", map[string]any{"id": "sub_1"}, t0), codes.InvalidArgument},
		{"billing tick without a scheduled time", noScheduled, codes.InvalidArgument},
		{"no event", nil, codes.InvalidArgument},
		{"orders type without payload", &eventv1.Event{Id: "np-1", Source: "hasura", Type: "hasura.public.orders.insert"}, codes.InvalidArgument},
		{"billing type without payload", &eventv1.Event{Id: "np-2", Source: "hookmesh", Type: "cron.billing"}, codes.InvalidArgument},
		{"stripe type without payload or body", &eventv1.Event{Id: "np-3", Source: "stripe", Type: "stripe.payment_intent.succeeded"}, codes.InvalidArgument},

		{"numeric ids", ev.Order("e-num", "insert", nil, row(func(r map[string]any) { r["id"], r["customer_id"] = 42, 7 }), t0), codes.OK},
		{"items as a JSON string", ev.Order("e-js", "insert", nil, row(func(r map[string]any) {
			r["id"], r["items"] = "o-js", `[{"sku":"A","quantity":2,"price":"1.25"}]`
		}), t0), codes.OK},
		{"timestamp without zone", ev.Order("e-tz", "insert", nil, row(func(r map[string]any) { r["id"], r["created_at"] = "o-tz", "2026-05-01T09:00:00.5" }), t0), codes.OK},
		{"users table: not for orders", users, codes.OK},
		{"another schema: not for orders", otherSchema, codes.OK},
		{"github: not for orders", github, codes.OK},
		{"other stripe types: not for orders", ev.Stripe("evt_5", "charge.succeeded", map[string]any{"id": "ch_1"}, t0), codes.OK},
		{"payment intent of no order", ev.Stripe("evt_6", "payment_intent.succeeded", ev.PaymentIntent("pi_1", "", 100, ""), t0), codes.OK},
		{"other cron: not for orders", otherCron, codes.OK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := status.Code(e.deliver(t, tc.event)); got != tc.want {
				t.Fatalf("code = %v, want %v", got, tc.want)
			}
		})
	}
	if o := e.order(t, "42"); o.GetCustomerId() != "7" {
		t.Errorf("numeric ids: order = %v", o)
	}
	if o := e.order(t, "o-js"); len(o.GetItems()) != 1 || o.GetItems()[0].GetPriceCents() != 125 || o.GetItems()[0].GetQuantity() != 2 {
		t.Errorf("items as a string: order = %v", o)
	}
	if o := e.order(t, "o-tz"); o.GetCreateTime().AsTime() != time.Date(2026, 5, 1, 9, 0, 0, 5e8, time.UTC) {
		t.Errorf("timestamp without zone: create_time = %v", o.GetCreateTime().AsTime())
	}
	if _, err := e.orders.GetOrder(t.Context(), &ordersv1.GetOrderRequest{Id: "o-x"}); status.Code(err) != codes.NotFound {
		t.Errorf("a rejected event was applied: %v", err)
	}
}

func TestInsufficientStock(t *testing.T) {
	sqlstoretest.ForEachDialect(t, store.Migrations, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db)
		e.mustDeliver(t, ev.Inventory("inv-1", "insert", nil, ev.InventoryRow("MUG", 1), t0))
		completion := ev.Completion("c-1", "o-1", "alice", t0, ev.Item{SKU: "MUG", Quantity: 2, Price: 9})
		err := e.deliver(t, completion)
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "MUG") {
			t.Fatalf("deliver = %v, want FAILED_PRECONDITION naming the SKU", err)
		}
		var violations []*errdetails.PreconditionFailure_Violation
		for _, d := range status.Convert(err).Details() {
			if pf, ok := d.(*errdetails.PreconditionFailure); ok {
				violations = pf.GetViolations()
			}
		}
		if len(violations) != 1 || violations[0].GetSubject() != "MUG" || violations[0].GetDescription() != "requested 2, available 1" {
			t.Fatalf("violations = %v", violations)
		}
		if got := e.level(t, "MUG"); got != 1 {
			t.Errorf("stock = %d, want 1", got)
		}
		if _, err := e.orders.GetOrder(t.Context(), &ordersv1.GetOrderRequest{Id: "o-1"}); status.Code(err) != codes.NotFound {
			t.Errorf("order state applied: %v", err)
		}
		facts, err := e.st.ClaimFacts(t.Context(), time.Now().Add(time.Hour), time.Now().Add(2*time.Hour), 10)
		if err != nil || len(facts) != 1 || facts[0].Type != orders.TypeStockInsufficient || facts[0].Data["order_id"] != "o-1" {
			t.Fatalf("facts = %+v, %v", facts, err)
		}
		// Delivered again (a retry or replay) it is the same decision and the same fact.
		if err := e.deliver(t, completion); status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("redelivery = %v", err)
		}
		if facts, _ := e.st.ClaimFacts(t.Context(), time.Now().Add(3*time.Hour), time.Now().Add(4*time.Hour), 10); len(facts) != 1 {
			t.Fatalf("facts after redelivery = %d, want 1 (one id)", len(facts))
		}
	})
}

func TestPaymentsSubscriptionsBilling(t *testing.T) {
	sqlstoretest.ForEachDialect(t, store.Migrations, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		e := newEnv(t, db)
		e.mustDeliver(t, ev.Inventory("inv-a", "insert", nil, ev.InventoryRow("A", 100), t0))

		t.Run("payment before the order exists", func(t *testing.T) {
			e.mustDeliver(t, ev.Stripe("evt_p1", "payment_intent.succeeded", ev.PaymentIntent("pi_1", "o-1", 2000, "alice@example.com"), t0))
			if _, err := e.orders.GetOrder(ctx, &ordersv1.GetOrderRequest{Id: "o-1"}); status.Code(err) != codes.NotFound {
				t.Fatalf("GetOrder before the order exists = %v, want NOT_FOUND", err)
			}
			e.mustDeliver(t, ev.Order("h-1", "insert", nil, ev.OrderRow("o-1", "alice", "pending", ev.Item{SKU: "A", Quantity: 2, Price: 10}), t0))
			p := e.order(t, "o-1").GetPayment()
			if p.GetStatus() != ordersv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED || p.GetAmountCents() != 2000 || p.GetPaymentIntentId() != "pi_1" || p.GetCurrency() != "usd" {
				t.Fatalf("payment = %v", p)
			}
			e.mustDeliver(t, ev.Completion("h-2", "o-1", "alice", t0.Add(time.Minute), ev.Item{SKU: "A", Quantity: 2, Price: 10}))
			facts, err := e.st.ClaimFacts(ctx, time.Now().Add(time.Hour), time.Now().Add(2*time.Hour), 10)
			if err != nil || len(facts) != 1 || facts[0].Data["customer_email"] != "alice@example.com" || facts[0].Data["total"] != "20.00" {
				t.Fatalf("facts = %+v, %v", facts, err)
			}
		})

		t.Run("a late failure does not undo a success", func(t *testing.T) {
			e.mustDeliver(t, ev.Stripe("evt_p2", "payment_intent.succeeded", ev.PaymentIntent("pi_2", "o-2", 500, ""), t0.Add(time.Minute)))
			e.mustDeliver(t, ev.Stripe("evt_p3", "payment_intent.payment_failed", ev.FailedPaymentIntent("pi_2", "o-2", 500, "card declined"), t0))
			e.mustDeliver(t, ev.Order("h-3", "insert", nil, ev.OrderRow("o-2", "bob", "pending", ev.Item{SKU: "A", Quantity: 1, Price: 5}), t0))
			if p := e.order(t, "o-2").GetPayment(); p.GetStatus() != ordersv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED {
				t.Fatalf("payment = %v", p)
			}
		})

		t.Run("a failure is recorded with its message", func(t *testing.T) {
			e.mustDeliver(t, ev.Order("h-4", "insert", nil, ev.OrderRow("o-3", "bob", "pending", ev.Item{SKU: "A", Quantity: 1, Price: 5}), t0))
			if p := e.order(t, "o-3").GetPayment(); p.GetStatus() != ordersv1.PaymentStatus_PAYMENT_STATUS_PENDING {
				t.Fatalf("payment before any event = %v", p)
			}
			e.mustDeliver(t, ev.Stripe("evt_p4", "payment_intent.payment_failed", ev.FailedPaymentIntent("pi_3", "o-3", 500, "card declined"), t0))
			if p := e.order(t, "o-3").GetPayment(); p.GetStatus() != ordersv1.PaymentStatus_PAYMENT_STATUS_FAILED || p.GetFailureMessage() != "card declined" {
				t.Fatalf("payment = %v", p)
			}
			if err := e.deliver(t, ev.Stripe("evt_p4", "payment_intent.payment_failed", ev.FailedPaymentIntent("pi_3", "o-3", 500, "card declined"), t0)); status.Code(err) != codes.AlreadyExists {
				t.Fatalf("redelivery = %v, want ALREADY_EXISTS", err)
			}
		})

		t.Run("subscriptions and one invoice per customer and month", func(t *testing.T) {
			april := time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC)
			e.mustDeliver(t, ev.Stripe("evt_s1", "customer.subscription.created", ev.Subscription("sub_1", "cus_A", "alice", 999, "month", april), april))
			e.mustDeliver(t, ev.Stripe("evt_s2", "customer.subscription.created", ev.Subscription("sub_2", "cus_C", "", 12000, "year", april), april))
			// carol's subscription: deleted (arriving first) in April, so not billed for May.
			e.mustDeliver(t, ev.Stripe("evt_s4", "customer.subscription.deleted", ev.Subscription("sub_3", "cus_D", "carol", 500, "month", april), april.Add(48*time.Hour)))
			e.mustDeliver(t, ev.Stripe("evt_s3", "customer.subscription.created", ev.Subscription("sub_3", "cus_D", "carol", 500, "month", april), april))

			june := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
			tick := ev.BillingTick("hookmesh", "billing-2026-06", june)
			e.mustDeliver(t, tick)
			if err := e.deliver(t, tick); status.Code(err) != codes.AlreadyExists {
				t.Fatalf("second delivery of the tick = %v, want ALREADY_EXISTS", err)
			}
			e.mustDeliver(t, ev.BillingTick("hasura", "hasura-tick-2026-06", june)) // Hasura's scheduler as well
			resp, err := e.orders.ListInvoices(ctx, &ordersv1.ListInvoicesRequest{Month: "2026-05"})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int64{}
			for _, inv := range resp.GetInvoices() {
				if _, dup := got[inv.GetCustomerId()]; dup {
					t.Fatalf("two invoices for %s", inv.GetCustomerId())
				}
				got[inv.GetCustomerId()] = inv.GetTotalCents()
			}
			// alice: order o-1 (20.00) + 9.99; bob: nothing shipped; cus_C: 120.00/year = 10.00.
			want := map[string]int64{"alice": 2000 + 999, "cus_C": 1000}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("invoices = %v, want %v", got, want)
			}
			o := e.order(t, "o-1")
			if o.GetShipment().GetInvoiceId() == "" {
				t.Error("billed order has no invoice id")
			}
			// The next month bills the subscription again but not the order.
			e.mustDeliver(t, ev.BillingTick("hookmesh", "billing-2026-07", june.AddDate(0, 1, 0)))
			resp, err = e.orders.ListInvoices(ctx, &ordersv1.ListInvoicesRequest{CustomerId: "alice", Month: "2026-06"})
			if err != nil || len(resp.GetInvoices()) != 1 || resp.GetInvoices()[0].GetTotalCents() != 999 {
				t.Fatalf("june invoice = %v, %v", resp.GetInvoices(), err)
			}
		})
	})
}

func TestReadAPI(t *testing.T) {
	ctx := t.Context()
	e := newEnv(t, sqlstoretest.SQLite(t, store.Migrations))
	e.mustDeliver(t, ev.Inventory("inv", "insert", nil, ev.InventoryRow("A", 100), t0))
	for i := range 5 {
		e.mustDeliver(t, ev.Completion(fmt.Sprintf("c-%d", i), fmt.Sprintf("o-%d", i), "alice", t0, ev.Item{SKU: "A", Quantity: 1, Price: 1}))
	}

	t.Run("pages through shipments", func(t *testing.T) {
		seen := map[string]bool{}
		token, pages := "", 0
		for {
			resp, err := e.orders.ListShipments(ctx, &ordersv1.ListShipmentsRequest{CustomerId: "alice", PageSize: 2, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, s := range resp.GetShipments() {
				if seen[s.GetOrderId()] {
					t.Fatalf("order %s on two pages", s.GetOrderId())
				}
				seen[s.GetOrderId()] = true
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		if len(seen) != 5 || pages != 3 {
			t.Fatalf("saw %d shipments on %d pages, want 5 on 3", len(seen), pages)
		}
		resp, err := e.orders.ListShipments(ctx, &ordersv1.ListShipmentsRequest{CustomerId: "nobody"})
		if err != nil || len(resp.GetShipments()) != 0 {
			t.Fatalf("other customer: %v, %v", resp, err)
		}
	})

	t.Run("notifications are pending without a sender", func(t *testing.T) {
		resp, err := e.orders.ListFulfillmentNotifications(ctx, &ordersv1.ListFulfillmentNotificationsRequest{
			Status: ordersv1.NotificationStatus_NOTIFICATION_STATUS_PENDING, OrderId: "o-3"})
		if err != nil || len(resp.GetNotifications()) != 1 || resp.GetNotifications()[0].GetAttempts() != 0 {
			t.Fatalf("notifications = %v, %v", resp, err)
		}
		resp, err = e.orders.ListFulfillmentNotifications(ctx, &ordersv1.ListFulfillmentNotificationsRequest{
			Status: ordersv1.NotificationStatus_NOTIFICATION_STATUS_DELIVERED})
		if err != nil || len(resp.GetNotifications()) != 0 {
			t.Fatalf("delivered = %v, %v", resp, err)
		}
	})

	errCases := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"unknown order", func() error {
			_, err := e.orders.GetOrder(ctx, &ordersv1.GetOrderRequest{Id: "nope"})
			return err
		}, codes.NotFound},
		{"empty order id", func() error {
			_, err := e.orders.GetOrder(ctx, &ordersv1.GetOrderRequest{})
			return err
		}, codes.InvalidArgument},
		{"malformed page token", func() error {
			_, err := e.orders.ListShipments(ctx, &ordersv1.ListShipmentsRequest{PageToken: "%%%"})
			return err
		}, codes.InvalidArgument},
		{"negative page size", func() error {
			_, err := e.orders.ListInvoices(ctx, &ordersv1.ListInvoicesRequest{PageSize: -1})
			return err
		}, codes.InvalidArgument},
		{"malformed month", func() error {
			_, err := e.orders.ListInvoices(ctx, &ordersv1.ListInvoicesRequest{Month: "May"})
			return err
		}, codes.InvalidArgument},
		{"unknown notification status", func() error {
			_, err := e.orders.ListFulfillmentNotifications(ctx, &ordersv1.ListFulfillmentNotificationsRequest{Status: 99})
			return err
		}, codes.InvalidArgument},
		{"malformed stock token", func() error {
			_, err := e.orders.ListStock(ctx, &ordersv1.ListStockRequest{PageToken: "!"})
			return err
		}, codes.InvalidArgument},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := status.Code(tc.call()); got != tc.want {
				t.Fatalf("code = %v, want %v", got, tc.want)
			}
		})
	}
}

// Stripe sends amounts and times as integers; after the payload went through
// structpb (float64) they must still decode as integers.
func TestStripeLargeIntegers(t *testing.T) {
	e := newEnv(t, sqlstoretest.SQLite(t, store.Migrations))
	pi := ev.PaymentIntent("pi_big", "o-big", 123456789012, "")
	event := ev.Stripe("evt_big", "payment_intent.succeeded", pi, t0)
	e.mustDeliver(t, event)
	e.mustDeliver(t, ev.Order("h-big", "insert", nil, ev.OrderRow("o-big", "c", "pending"), t0))
	if p := e.order(t, "o-big").GetPayment(); p.GetAmountCents() != 123456789012 || !p.GetUpdateTime().AsTime().Equal(t0) {
		t.Fatalf("payment = %v", p)
	}
}
