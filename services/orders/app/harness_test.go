package app_test

import (
	"context"
	"encoding/base64"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	ordersv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/orders/v1"
	"github.com/hookmesh/hookmesh/platform/grpcserver"
	"github.com/hookmesh/hookmesh/platform/sqlstore/sqlstoretest"
	"github.com/hookmesh/hookmesh/services/orders/app"
	"github.com/hookmesh/hookmesh/services/orders/internal/fulfillment/fulfillmenttest"
	"github.com/hookmesh/hookmesh/services/orders/internal/publish/publishtest"
)

var secret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("orders-app-test-fulfillment-key!"))

// forEachDB runs fn on SQLite and, when HOOKMESH_TEST_DATABASE_URL is set, on
// PostgreSQL in a fresh schema (skipped without it, failed under CI=true).
func forEachDB(t *testing.T, fn func(t *testing.T, db func(*app.Config))) {
	t.Run("sqlite", func(t *testing.T) { fn(t, func(*app.Config) {}) })
	t.Run("postgres", func(t *testing.T) {
		url := sqlstoretest.PostgresURL(t)
		schema := sqlstoretest.NewSchemaName(t)
		t.Cleanup(func() { sqlstoretest.DropSchema(t, url, schema) })
		fn(t, func(c *app.Config) { c.DatabaseURL, c.DatabaseSchema = url, schema })
	})
}

// harness is one orders service wired as in production: a real gRPC server on
// loopback, a real PublisherService recording publishes, a real HTTP fulfillment
// endpoint verifying signatures.
type harness struct {
	cfg      app.Config
	tp       trace.TracerProvider  // nil: the global one
	reg      prometheus.Registerer // nil: no metrics
	pub      eventv1.PublisherServiceClient
	rec      *publishtest.Recorder
	recv     *fulfillmenttest.Receiver
	svc      *app.Service
	conn     *grpc.ClientConn
	consumer consumerv1.EventConsumerServiceClient
	orders   ordersv1.OrdersServiceClient
	stopOnce *sync.Once
	stopFn   func()
}

func newHarness(t *testing.T, db func(*app.Config), mutate ...func(*app.Config)) *harness {
	t.Helper()
	h := prepare(t, db, mutate...)
	h.start(t)
	return h
}

// prepare builds the harness without starting the service.
func prepare(t *testing.T, db func(*app.Config), mutate ...func(*app.Config)) *harness {
	t.Helper()
	h := &harness{}
	h.pub, h.rec = publishtest.Start(t)
	h.recv = fulfillmenttest.NewReceiver(t, secret)
	h.cfg = app.Config{
		DataDir:                   t.TempDir(),
		FulfillmentWebhookURL:     h.recv.URL,
		FulfillmentWebhookSecret:  secret,
		FulfillmentMaxAttempts:    5,
		FulfillmentBackoffInitial: 20 * time.Millisecond,
		FulfillmentBackoffMax:     100 * time.Millisecond,
		SeedCatalogue:             "true",
	}
	db(&h.cfg)
	for _, m := range mutate {
		m(&h.cfg)
	}
	return h
}

// start runs the service (again, after stop) on the same configuration.
func (h *harness) start(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	svc, err := app.New(ctx, h.cfg, app.Deps{Publisher: h.pub, TracerProvider: h.tp, Registerer: h.reg})
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	srv, err := grpcserver.New(grpcserver.Config{TracerProvider: h.tp})
	if err != nil {
		t.Fatal(err)
	}
	svc.Register(srv.GRPC())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, lis) }()
	dialOpts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if h.tp != nil {
		dialOpts = append(dialOpts, grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(h.tp))))
	}
	conn, err := grpc.NewClient(lis.Addr().String(), dialOpts...)
	if err != nil {
		t.Fatal(err)
	}
	svc.Start(sctx)
	h.svc, h.conn = svc, conn
	h.consumer = consumerv1.NewEventConsumerServiceClient(conn)
	h.orders = ordersv1.NewOrdersServiceClient(conn)
	h.stopOnce = &sync.Once{}
	h.stopFn = func() {
		_ = conn.Close()
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := svc.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}
	once := h.stopOnce
	t.Cleanup(func() { once.Do(h.stopFn) })
}

// stop shuts the service down as a process exit would (server, workers, store).
func (h *harness) stop() { h.stopOnce.Do(h.stopFn) }

func (h *harness) deliver(t *testing.T, ev *eventv1.Event) error {
	t.Helper()
	return h.deliverCtx(t.Context(), ev)
}

func (h *harness) deliverCtx(ctx context.Context, ev *eventv1.Event) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := h.consumer.Deliver(ctx, &consumerv1.DeliverRequest{Event: ev, Subscription: "orders", Attempt: 1})
	return err
}

func (h *harness) mustDeliver(t *testing.T, ev *eventv1.Event) {
	t.Helper()
	if err := h.deliver(t, ev); err != nil {
		t.Fatalf("deliver %s %s: %v", ev.GetType(), ev.GetId(), err)
	}
}

func (h *harness) level(t *testing.T, sku string) int64 {
	t.Helper()
	resp, err := h.orders.ListStock(t.Context(), &ordersv1.ListStockRequest{PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range resp.GetLevels() {
		if l.GetSku() == sku {
			return l.GetQuantity()
		}
	}
	return -1
}

func (h *harness) order(t *testing.T, id string) *ordersv1.Order {
	t.Helper()
	resp, err := h.orders.GetOrder(t.Context(), &ordersv1.GetOrderRequest{Id: id})
	if err != nil {
		t.Fatalf("GetOrder %s: %v", id, err)
	}
	return resp.GetOrder()
}

func (h *harness) notification(t *testing.T, orderID string) *ordersv1.FulfillmentNotification {
	t.Helper()
	resp, err := h.orders.ListFulfillmentNotifications(t.Context(), &ordersv1.ListFulfillmentNotificationsRequest{OrderId: orderID})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetNotifications()) != 1 {
		t.Fatalf("notifications of %s = %d, want 1", orderID, len(resp.GetNotifications()))
	}
	return resp.GetNotifications()[0]
}

func startPublisher(t *testing.T) (eventv1.PublisherServiceClient, *publishtest.Recorder) {
	t.Helper()
	return publishtest.Start(t)
}

func newReceiverURL(t *testing.T) string {
	t.Helper()
	return fulfillmenttest.NewReceiver(t, secret).URL
}

// freeAddr returns a loopback address that was free a moment ago (Run takes
// addresses, not listeners).
func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	if err := lis.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
