package app_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/envconfig"
	"github.com/hookmesh/hookmesh/platform/eventually"
	"github.com/hookmesh/hookmesh/services/orders/app"
	"github.com/hookmesh/hookmesh/services/orders/internal/orders"
	"github.com/hookmesh/hookmesh/services/orders/internal/publish/publishtest"
	ev "github.com/hookmesh/hookmesh/services/orders/internal/testevents"
)

// A gateway with an admin token answers Unauthenticated to a publisher without
// it: the service dials PUBLISHER_ADDR with PUBLISHER_TOKEN as a bearer token.
func TestPublishesWithToken(t *testing.T) {
	const token = "orders-publisher-token"
	rec := publishtest.StartRequiringToken(t, token)

	// The recorder does refuse a call without the token.
	conn, err := grpc.NewClient(rec.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	_, err = eventv1.NewPublisherServiceClient(conn).Publish(t.Context(), &eventv1.PublishRequest{Event: &eventv1.Event{Source: "s", Id: "i", Type: "t"}})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("Publish without the token: %v, want Unauthenticated", err)
	}

	h := prepare(t, func(*app.Config) {}, func(c *app.Config) { c.PublisherAddr, c.PublisherToken = rec.Addr, token })
	h.pub, h.rec = nil, rec // New dials PUBLISHER_ADDR itself
	h.start(t)
	h.mustDeliver(t, ev.Completion("h-tok", "o-900", "ida", t0, ev.Item{SKU: "MUG-LOGO", Quantity: 1, Price: 12.5}))
	eventually.True(t, 20*time.Second, "orders.shipment.created published", func() bool { return len(rec.OfType(orders.TypeShipmentCreated)) == 1 })
}

// PUBLISHER_TOKEN is a secret: also read from PUBLISHER_TOKEN_FILE.
func TestPublisherTokenFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PUBLISHER_TOKEN", "")
	t.Setenv("PUBLISHER_TOKEN_FILE", path)
	var cfg app.Config
	if err := envconfig.Load(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.PublisherToken != "from-file" {
		t.Fatal("PUBLISHER_TOKEN_FILE not read")
	}
}
