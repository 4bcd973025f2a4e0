package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	ordersv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/orders/v1"
	"github.com/hookmesh/hookmesh/platform/eventually"
	"github.com/hookmesh/hookmesh/platform/grpcauth"
	"github.com/hookmesh/hookmesh/platform/grpcserver/grpcservertest"
	"github.com/hookmesh/hookmesh/services/orders/app"
)

// Orders' own ports with SERVICE_TOKEN: Deliver and the read API need it over
// gRPC and REST; health stays open.
func TestRunRequiresServiceToken(t *testing.T) {
	const token = "orders-service-token"
	_, rec := startPublisher(t)
	cfg := app.Config{DataDir: t.TempDir(), GRPCAddr: freeAddr(t), HTTPAddr: freeAddr(t), PublisherAddr: rec.Addr, ServiceToken: token}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	eventually.True(t, 20*time.Second, "healthy", func() bool { return app.Health(t.Context(), cfg) == nil })

	anon := grpcservertest.MustDial(t, cfg.GRPCAddr)
	_, err := consumerv1.NewEventConsumerServiceClient(anon).Deliver(t.Context(), &consumerv1.DeliverRequest{
		Event: &eventv1.Event{Id: "forged", Source: "hasura", Type: "hasura.public.inventory.insert"}})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("Deliver without token: %v", err)
	}
	if _, err := ordersv1.NewOrdersServiceClient(anon).ListStock(t.Context(), &ordersv1.ListStockRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("ListStock without token: %v", err)
	}
	if _, err := ordersv1.NewOrdersServiceClient(grpcservertest.MustDial(t, cfg.GRPCAddr, grpcauth.WithBearer(token))).
		ListStock(t.Context(), &ordersv1.ListStockRequest{}); err != nil {
		t.Fatalf("ListStock with the token: %v", err)
	}
	for _, tc := range []struct {
		bearer string
		want   int
	}{{"", 401}, {"guess", 401}, {token, 200}} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+cfg.HTTPAddr+"/v1/orders/stock", nil)
		if tc.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+tc.bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("GET /v1/orders/stock with %q: %d, want %d", tc.bearer, resp.StatusCode, tc.want)
		}
	}
}

func TestRunRefusesOpenNetworkWithoutServiceToken(t *testing.T) {
	_, rec := startPublisher(t)
	err := app.Run(t.Context(), app.Config{DataDir: t.TempDir(), GRPCAddr: "0.0.0.0:0", HTTPAddr: "", PublisherAddr: rec.Addr})
	if err == nil || !strings.Contains(err.Error(), "ORDERS_GRPC_ADDR") || !strings.Contains(err.Error(), "SERVICE_TOKEN") {
		t.Fatalf("Run = %v, want a refusal naming ORDERS_GRPC_ADDR and SERVICE_TOKEN", err)
	}
}
