package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	ordersv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/orders/v1"
	"github.com/hookmesh/hookmesh/platform/restgw"
	"github.com/hookmesh/hookmesh/services/orders/app"
	"github.com/hookmesh/hookmesh/services/orders/internal/orders"
	ev "github.com/hookmesh/hookmesh/services/orders/internal/testevents"
)

var t0 = time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)

func TestOrderCompletionEndToEnd(t *testing.T) {
	forEachDB(t, func(t *testing.T, db func(*app.Config)) {
		h := newHarness(t, db)
		if got := h.level(t, "TSHIRT-BLK-M"); got != 100 {
			t.Fatalf("seeded TSHIRT-BLK-M = %d, want 100", got)
		}
		items := []ev.Item{{SKU: "TSHIRT-BLK-M", Quantity: 2, Price: 19.99}, {SKU: "MUG-LOGO", Quantity: 1, Price: 12.5}}

		// The payment arrives before the order completes (and before it exists).
		h.mustDeliver(t, ev.Stripe("evt_pay", "payment_intent.succeeded", ev.PaymentIntent("pi_1", "o-100", 5248, "alice@example.com"), t0))
		h.mustDeliver(t, ev.Order("h-1", "insert", nil, ev.OrderRow("o-100", "alice", "pending", items...), t0))
		completion := ev.Completion("h-2", "o-100", "alice", t0.Add(time.Minute), items...)
		h.mustDeliver(t, completion)

		eventually(t, "the shipment event is published", func() bool { return len(h.rec.OfType(orders.TypeShipmentCreated)) == 1 })
		eventually(t, "the fulfillment webhook is delivered", func() bool {
			return h.notification(t, "o-100").GetStatus() == ordersv1.NotificationStatus_NOTIFICATION_STATUS_DELIVERED
		})

		o := h.order(t, "o-100")
		if o.GetStatus() != "completed" || o.GetTotalCents() != 5248 || o.GetPayment().GetStatus() != ordersv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED {
			t.Fatalf("order = %v", o)
		}
		tracking := o.GetShipment().GetTrackingNumber()
		if tracking == "" {
			t.Fatal("no tracking number")
		}
		if a, b := h.level(t, "TSHIRT-BLK-M"), h.level(t, "MUG-LOGO"); a != 98 || b != 49 {
			t.Fatalf("stock = %d, %d; want 98, 49", a, b)
		}

		pub := h.rec.OfType(orders.TypeShipmentCreated)[0]
		data := pub.GetFact().GetData().GetStructValue().AsMap()
		if pub.GetSource() != "orders" || pub.GetId() != orders.ShipmentCreatedID("o-100") ||
			data["order_id"] != "o-100" || data["customer_id"] != "alice" || data["customer_email"] != "alice@example.com" ||
			data["tracking_number"] != tracking || data["total"] != "52.48" || len(data["items"].([]any)) != 2 {
			t.Fatalf("published %v with data %v", pub, data)
		}
		if c := pub.GetFact().GetCausedBy(); c.GetSource() != "hasura" || c.GetId() != "h-2" {
			t.Fatalf("caused_by = %v", c)
		}

		n := h.notification(t, "o-100")
		got := h.recv.Accepted()
		if len(got) != 1 || got[0].ID != n.GetId() || n.GetAttempts() != 1 || n.GetDeliverTime() == nil || n.GetLastError() != "" {
			t.Fatalf("notification %v, receiver got %d", n, len(got))
		}
		var body struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(got[0].Body, &body); err != nil || body.Type != "shipment.created" || body.Data["tracking_number"] != tracking || body.Data["order_id"] != "o-100" {
			t.Fatalf("webhook body %s (%v)", got[0].Body, err)
		}

		t.Run("a later update of the completed order changes nothing", func(t *testing.T) {
			later := ev.Order("h-3", "update", ev.OrderRow("o-100", "alice", "completed", items...), ev.OrderRow("o-100", "alice", "completed", items...), t0.Add(time.Hour))
			h.mustDeliver(t, later)
			if err := h.deliver(t, proto.Clone(completion).(*eventv1.Event)); status.Code(err) != codes.AlreadyExists {
				t.Fatalf("redelivery of the completion = %v, want ALREADY_EXISTS", err)
			}
			time.Sleep(200 * time.Millisecond) // let any (wrong) second publish or webhook happen
			if a := h.level(t, "TSHIRT-BLK-M"); a != 98 {
				t.Errorf("stock = %d, want 98", a)
			}
			shipments, err := h.orders.ListShipments(context.Background(), &ordersv1.ListShipmentsRequest{CustomerId: "alice"})
			if err != nil || len(shipments.GetShipments()) != 1 {
				t.Errorf("shipments = %v, %v", shipments, err)
			}
			if c := h.rec.CallsFor(orders.ShipmentCreatedID("o-100")); c != 1 {
				t.Errorf("publish calls = %d, want 1", c)
			}
			if len(h.recv.Accepted()) != 1 || h.recv.Attempts() != 1 {
				t.Errorf("webhooks = %d (attempts %d), want 1", len(h.recv.Accepted()), h.recv.Attempts())
			}
		})
	})
}

func TestConcurrentDuplicateCompletion(t *testing.T) {
	forEachDB(t, func(t *testing.T, db func(*app.Config)) {
		h := newHarness(t, db)
		completion := ev.Completion("h-dup", "o-200", "bob", t0, ev.Item{SKU: "HOODIE-GRY-M", Quantity: 3, Price: 40})
		const n = 8
		codesSeen := make([]codes.Code, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				codesSeen[i] = status.Code(h.deliver(t, completion))
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, c := range codesSeen {
			switch c {
			case codes.OK:
				ok++
			case codes.AlreadyExists:
			default:
				t.Fatalf("codes = %v", codesSeen)
			}
		}
		if ok != 1 {
			t.Fatalf("codes = %v, want exactly one OK", codesSeen)
		}
		id := orders.ShipmentCreatedID("o-200")
		eventually(t, "published", func() bool { return h.rec.CallsFor(id) == 1 })
		eventually(t, "delivered", func() bool { return len(h.recv.Accepted()) == 1 })
		time.Sleep(200 * time.Millisecond)
		if got := h.level(t, "HOODIE-GRY-M"); got != 22 {
			t.Errorf("stock = %d, want 22 (one decrement)", got)
		}
		shipments, err := h.orders.ListShipments(context.Background(), &ordersv1.ListShipmentsRequest{})
		if err != nil || len(shipments.GetShipments()) != 1 {
			t.Errorf("shipments = %d, %v; want 1", len(shipments.GetShipments()), err)
		}
		if c := h.rec.CallsFor(id); c != 1 {
			t.Errorf("publish calls = %d, want 1", c)
		}
		if a := h.recv.Attempts(); a != 1 {
			t.Errorf("webhook attempts = %d, want 1", a)
		}
	})
}

func TestInsufficientStock(t *testing.T) {
	h := newHarness(t, func(*app.Config) {})
	completion := ev.Completion("h-short", "o-300", "carol", t0,
		ev.Item{SKU: "HOODIE-GRY-M", Quantity: 1, Price: 40}, ev.Item{SKU: "MUG-LOGO", Quantity: 51, Price: 12.5})
	err := h.deliver(t, completion)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "MUG-LOGO: requested 51, available 50") {
		t.Fatalf("deliver = %v, want FAILED_PRECONDITION with the reason", err)
	}
	eventually(t, "the insufficient-stock event is published", func() bool { return len(h.rec.OfType(orders.TypeStockInsufficient)) == 1 })
	data := h.rec.OfType(orders.TypeStockInsufficient)[0].GetFact().GetData().GetStructValue().AsMap()
	if data["order_id"] != "o-300" || data["customer_id"] != "carol" || len(data["shortages"].([]any)) != 1 {
		t.Fatalf("data = %v", data)
	}
	if a, b := h.level(t, "HOODIE-GRY-M"), h.level(t, "MUG-LOGO"); a != 25 || b != 50 {
		t.Errorf("stock = %d, %d; want 25, 50 (nothing half-applied)", a, b)
	}
	if _, err := h.orders.GetOrder(context.Background(), &ordersv1.GetOrderRequest{Id: "o-300"}); status.Code(err) != codes.NotFound {
		t.Errorf("order state applied: %v", err)
	}
	if len(h.rec.OfType(orders.TypeShipmentCreated)) != 0 || h.recv.Attempts() != 0 {
		t.Error("a shipment was announced")
	}

	t.Run("after a restock the replayed delivery fulfils it", func(t *testing.T) {
		h.mustDeliver(t, ev.Inventory("inv-restock", "update", ev.InventoryRow("MUG-LOGO", 50), ev.InventoryRow("MUG-LOGO", 60), t0))
		h.mustDeliver(t, completion)
		eventually(t, "delivered", func() bool { return len(h.recv.Accepted()) == 1 })
		if b := h.level(t, "MUG-LOGO"); b != 9 {
			t.Errorf("MUG-LOGO = %d, want 9", b)
		}
	})
}

// The notification and the publish are in outboxes: a service stopped while
// they fail sends them after it starts again, once.
func TestOutboxesSurviveRestart(t *testing.T) {
	forEachDB(t, func(t *testing.T, db func(*app.Config)) {
		h := newHarness(t, db)
		h.recv.AlwaysAnswer(http.StatusServiceUnavailable)
		h.rec.FailNext(1 << 20)
		h.mustDeliver(t, ev.Completion("h-r", "o-400", "dave", t0, ev.Item{SKU: "STICKER-PACK", Quantity: 10, Price: 1}))
		eventually(t, "a failed attempt is visible", func() bool {
			n := h.notification(t, "o-400")
			return n.GetAttempts() >= 1 && n.GetLastStatusCode() == 503 && strings.Contains(n.GetLastError(), "503") &&
				n.GetStatus() == ordersv1.NotificationStatus_NOTIFICATION_STATUS_PENDING && n.GetNextAttemptTime() != nil
		})
		eventually(t, "a failed publish", func() bool { return h.rec.Calls() >= 1 })
		h.stop()

		h.recv.AlwaysAnswer(0)
		h.rec.FailNext(0)
		h.start(t)
		eventually(t, "delivered after the restart", func() bool {
			return h.notification(t, "o-400").GetStatus() == ordersv1.NotificationStatus_NOTIFICATION_STATUS_DELIVERED
		})
		eventually(t, "published after the restart", func() bool { return len(h.rec.OfType(orders.TypeShipmentCreated)) == 1 })
		if got := h.recv.Accepted(); len(got) != 1 || got[0].ID != orders.NotificationID("o-400") {
			t.Fatalf("accepted = %v", got)
		}
		if got := h.level(t, "STICKER-PACK"); got != 490 {
			t.Fatalf("stock = %d, want 490 (seeded once, taken once)", got)
		}
	})
}

func TestFulfillmentGivesUp(t *testing.T) {
	h := newHarness(t, func(*app.Config) {}, func(c *app.Config) { c.FulfillmentMaxAttempts = 3 })
	h.recv.AlwaysAnswer(http.StatusInternalServerError)
	h.mustDeliver(t, ev.Completion("h-g", "o-500", "erin", t0, ev.Item{SKU: "MUG-LOGO", Quantity: 1, Price: 12.5}))
	eventually(t, "failed for good", func() bool {
		return h.notification(t, "o-500").GetStatus() == ordersv1.NotificationStatus_NOTIFICATION_STATUS_FAILED
	})
	n := h.notification(t, "o-500")
	if n.GetAttempts() != 3 || n.GetLastStatusCode() != 500 || !strings.Contains(n.GetLastError(), "500") || n.GetNextAttemptTime() != nil {
		t.Fatalf("notification = %v", n)
	}
	resp, err := h.orders.ListFulfillmentNotifications(context.Background(), &ordersv1.ListFulfillmentNotificationsRequest{
		Status: ordersv1.NotificationStatus_NOTIFICATION_STATUS_FAILED})
	if err != nil || len(resp.GetNotifications()) != 1 {
		t.Fatalf("failed notifications = %v, %v", resp, err)
	}
}

// The REST mappings go through grpc-gateway's ServeMux with the real
// registration: the literal collection paths are not shadowed by /v1/orders/{id}.
func TestRESTRoutes(t *testing.T) {
	h := newHarness(t, func(*app.Config) {})
	h.mustDeliver(t, ev.Completion("h-rest", "o-600", "frank", t0, ev.Item{SKU: "MUG-LOGO", Quantity: 1, Price: 12.5}))
	h.mustDeliver(t, ev.BillingTick("hookmesh", "tick-1", time.Now().UTC().AddDate(0, 1, 0)))
	h.mustDeliver(t, ev.BillingTick("hasura", "tick-2", time.Now().UTC().AddDate(0, 1, 0)))
	rest, err := restgw.New(restgw.Config{Conn: h.conn, Register: []restgw.RegisterFunc{h.svc.RegisterGateway}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rest)
	t.Cleanup(srv.Close)

	tests := []struct {
		path    string
		status  int
		wantKey string
	}{
		{"/v1/orders/shipments", 200, "shipments"},
		{"/v1/orders/shipments?customer_id=frank&page_size=1", 200, "shipments"},
		{"/v1/orders/invoices", 200, "invoices"},
		{"/v1/orders/notifications", 200, "notifications"},
		{"/v1/orders/notifications?order_id=o-600", 200, "notifications"},
		{"/v1/orders/stock", 200, "levels"},
		{"/v1/orders/o-600", 200, "order"},
		{"/v1/orders/missing", 404, "error"},
		{"/v1/orders/invoices?month=May", 400, "error"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d (%s), want %d", resp.StatusCode, raw, tc.status)
			}
			if tc.wantKey == "" {
				return
			}
			var body map[string]json.RawMessage
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatal(err)
			}
			if v, ok := body[tc.wantKey]; !ok || string(v) == "[]" || string(v) == "null" {
				t.Fatalf("body %s has no %q (shadowed by GetOrder?)", raw, tc.wantKey)
			}
		})
	}
	// One billing run per month however many ticks: exactly one invoice for frank.
	invs, err := h.orders.ListInvoices(context.Background(), &ordersv1.ListInvoicesRequest{CustomerId: "frank"})
	if err != nil || len(invs.GetInvoices()) != 1 || invs.GetInvoices()[0].GetTotalCents() != 1250 {
		t.Fatalf("invoices = %v, %v", invs, err)
	}
}

func TestSeedCatalogue(t *testing.T) {
	tests := []struct {
		name string
		seed string
		want int64
	}{
		{"auto seeds on SQLite", "auto", 100},
		{"true", "true", 100},
		{"false", "false", -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(*app.Config) {}, func(c *app.Config) { c.SeedCatalogue = tc.seed })
			if got := h.level(t, "TSHIRT-WHT-L"); got != tc.want {
				t.Fatalf("TSHIRT-WHT-L = %d, want %d", got, tc.want)
			}
		})
	}
	t.Run("only at first start", func(t *testing.T) {
		h := newHarness(t, func(*app.Config) {})
		h.mustDeliver(t, ev.Inventory("inv-del", "delete", ev.InventoryRow("TSHIRT-WHT-L", 100), nil, t0))
		h.stop()
		h.start(t)
		if got := h.level(t, "TSHIRT-WHT-L"); got != -1 {
			t.Fatalf("TSHIRT-WHT-L = %d after a restart, want it to stay removed", got)
		}
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	ctx := context.Background()
	base := func() app.Config {
		return app.Config{DataDir: t.TempDir(), FulfillmentWebhookURL: "http://127.0.0.1:1/hook", FulfillmentWebhookSecret: secret}
	}
	pub, _ := startPublisher(t)
	tests := []struct {
		name   string
		mutate func(*app.Config)
		deps   app.Deps
		want   string
	}{
		{"URL without secret", func(c *app.Config) { c.FulfillmentWebhookSecret = "" }, app.Deps{Publisher: pub}, "FULFILLMENT_WEBHOOK_SECRET"},
		{"URL that is not http", func(c *app.Config) { c.FulfillmentWebhookURL = "mailto:x@example.com" }, app.Deps{Publisher: pub}, "FULFILLMENT_WEBHOOK_URL"},
		{"secret that is not whsec", func(c *app.Config) { c.FulfillmentWebhookSecret = "plain" }, app.Deps{Publisher: pub}, "secret"},
		{"negative attempts", func(c *app.Config) { c.FulfillmentMaxAttempts = -1 }, app.Deps{Publisher: pub}, "FULFILLMENT_MAX_ATTEMPTS"},
		{"backoff inverted", func(c *app.Config) { c.FulfillmentBackoffInitial, c.FulfillmentBackoffMax = time.Hour, time.Second }, app.Deps{Publisher: pub}, "FULFILLMENT_BACKOFF"},
		{"seed value", func(c *app.Config) { c.SeedCatalogue = "sometimes" }, app.Deps{Publisher: pub}, "ORDERS_SEED_CATALOGUE"},
		{"no publisher", func(*app.Config) {}, app.Deps{}, "PUBLISHER_ADDR"},
		{"database URL that is not postgres", func(c *app.Config) { c.DatabaseURL = "mysql://db/orders" }, app.Deps{Publisher: pub}, "scheme"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.mutate(&cfg)
			svc, err := app.New(ctx, cfg, tc.deps)
			if err == nil {
				_ = svc.Close()
				t.Fatal("New accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %s", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatal("the error repeats the secret")
			}
		})
	}
	t.Run("without a webhook URL notifications stay pending", func(t *testing.T) {
		h := newHarness(t, func(*app.Config) {}, func(c *app.Config) { c.FulfillmentWebhookURL, c.FulfillmentWebhookSecret = "", "" })
		h.mustDeliver(t, ev.Completion("h-p", "o-700", "gina", t0, ev.Item{SKU: "MUG-LOGO", Quantity: 1, Price: 12.5}))
		eventually(t, "published", func() bool { return len(h.rec.OfType(orders.TypeShipmentCreated)) == 1 })
		if n := h.notification(t, "o-700"); n.GetStatus() != ordersv1.NotificationStatus_NOTIFICATION_STATUS_PENDING || n.GetAttempts() != 0 {
			t.Fatalf("notification = %v", n)
		}
	})
}

func TestCloseIsIdempotent(t *testing.T) {
	h := newHarness(t, func(*app.Config) {})
	h.stop()
	if err := h.svc.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	h.svc.Start(context.Background()) // after Close: does nothing, must not panic
	if err := h.svc.Ready(context.Background()); err == nil {
		t.Fatal("Ready after Close")
	}
}

func TestRunAndHealth(t *testing.T) {
	_, rec := startPublisher(t)
	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	recv := newReceiverURL(t)
	cfg := app.Config{
		DataDir: t.TempDir(), GRPCAddr: grpcAddr, HTTPAddr: httpAddr, PublisherAddr: rec.Addr,
		FulfillmentWebhookURL: recv, FulfillmentWebhookSecret: secret, SeedCatalogue: "auto",
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- app.Run(ctx, cfg) }()
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-runErr:
			case <-time.After(20 * time.Second):
				stopErr = fmt.Errorf("Run did not return after cancel")
			}
		})
		return stopErr
	}
	t.Cleanup(func() { _ = stop() })
	eventually(t, "healthy", func() bool { return app.Health(context.Background(), cfg) == nil })
	for _, path := range []string{"/healthz", "/v1/orders/stock", "/metrics"} {
		resp, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s = %d %s", path, resp.StatusCode, raw)
		}
		if path == "/v1/orders/stock" && !strings.Contains(string(raw), "TSHIRT-BLK-M") {
			t.Fatalf("stock = %s, want the demo catalogue", raw)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := app.Health(context.Background(), cfg); err == nil {
		t.Fatal("healthy after shutdown")
	}
}

func TestRunFailsOnBusyPort(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lis.Close() })
	_, rec := startPublisher(t)
	err = app.Run(context.Background(), app.Config{DataDir: t.TempDir(), GRPCAddr: lis.Addr().String(), PublisherAddr: rec.Addr})
	if err == nil || !strings.Contains(err.Error(), "ORDERS_GRPC_ADDR") {
		t.Fatalf("Run = %v, want a listen error naming ORDERS_GRPC_ADDR", err)
	}
}

// One trace from the delivery through the follow-up event and the fulfillment
// webhook: both carry the trace of the Deliver call that completed the order.
func TestTraceContinuesAcrossHops(t *testing.T) {
	prev := otel.GetTextMapPropagator()
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTextMapPropagator(prev) })
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))

	h := prepare(t, func(*app.Config) {})
	h.tp = tp
	h.start(t)

	ctx, span := tp.Tracer("test").Start(context.Background(), "dispatch")
	if err := h.deliverCtx(ctx, ev.Completion("h-trace", "o-800", "hana", t0, ev.Item{SKU: "MUG-LOGO", Quantity: 1, Price: 12.5})); err != nil {
		t.Fatal(err)
	}
	span.End()
	traceID := span.SpanContext().TraceID().String()
	eventually(t, "published", func() bool { return len(h.rec.OfType(orders.TypeShipmentCreated)) == 1 })
	eventually(t, "delivered", func() bool { return len(h.recv.Accepted()) == 1 })
	if tpHeader := h.rec.OfType(orders.TypeShipmentCreated)[0].GetTraceparent(); !strings.Contains(tpHeader, "-"+traceID+"-") {
		t.Errorf("published traceparent %q is not in trace %s", tpHeader, traceID)
	}
	if got := h.recv.Accepted()[0].Traceparent; !strings.Contains(got, "-"+traceID+"-") {
		t.Errorf("webhook traceparent %q is not in trace %s", got, traceID)
	}
	names := map[string]bool{}
	// The sender ends its span after the receiver answered: wait for it.
	eventually(t, "fulfillment span ended", func() bool {
		for _, s := range spans.Ended() {
			if s.SpanContext().TraceID().String() == traceID {
				names[s.Name()] = true
			}
		}
		return names["fulfillment.notify"]
	})
	for _, want := range []string{"hookmesh.consumer.v1.EventConsumerService/Deliver", "process orders", "orders.publish orders.shipment.created", "fulfillment.notify"} {
		if !names[want] {
			t.Errorf("no %q span in the trace (spans: %v)", want, names)
		}
	}
}
