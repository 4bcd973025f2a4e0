package app

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	analyticsv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/analytics/v1"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/grpcauth"
	"github.com/hookmesh/hookmesh/platform/grpcserver/grpcservertest"
	"github.com/hookmesh/hookmesh/platform/telemetry"
)

// Analytics' own ports with SERVICE_TOKEN: Deliver and the read API need it
// over gRPC and REST (the REST API had no token at all before).
func TestServeRequiresServiceToken(t *testing.T) {
	const token = "analytics-service-token"
	tel, err := telemetry.Setup(t.Context(), telemetry.Config{Component: "analytics", SkipRuntimeMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tel.Shutdown(t.Context()) }()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hlis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{DataDir: t.TempDir(), GRPCAddr: lis.Addr().String(), ServiceToken: token}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, tel, slog.New(slog.DiscardHandler), lis, hlis) }()
	defer func() { cancel(); <-done }()          //nolint:errcheck // serve's result is not what this test checks
	deadline := time.Now().Add(20 * time.Second) // liveness, not timing
	for Health(t.Context(), cfg) != nil {
		if time.Now().After(deadline) {
			t.Fatal("never became healthy")
		}
		time.Sleep(20 * time.Millisecond)
	}
	anon := grpcservertest.MustDial(t, cfg.GRPCAddr)
	_, err = consumerv1.NewEventConsumerServiceClient(anon).Deliver(t.Context(), &consumerv1.DeliverRequest{
		Event: &eventv1.Event{Id: "forged", Source: "github", Type: "github.push"}})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("Deliver without token: %v", err)
	}
	if _, err := analyticsv1.NewAnalyticsServiceClient(anon).GetCounts(t.Context(), &analyticsv1.GetCountsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("GetCounts without token: %v", err)
	}
	authed := grpcservertest.MustDial(t, cfg.GRPCAddr, grpcauth.WithBearer(token))
	if _, err := consumerv1.NewEventConsumerServiceClient(authed).Deliver(t.Context(), &consumerv1.DeliverRequest{
		Event: &eventv1.Event{Id: "real", Source: "github", Type: "github.push"}}); err != nil {
		t.Fatalf("Deliver with the token: %v", err)
	}
	for _, tc := range []struct {
		bearer string
		want   int
	}{{"", 401}, {token, 200}} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+hlis.Addr().String()+"/v1/analytics/counts", nil)
		if tc.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+tc.bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("GET /v1/analytics/counts with %q: %d, want %d", tc.bearer, resp.StatusCode, tc.want)
		}
	}
}

func TestRunRefusesOpenNetworkWithoutServiceToken(t *testing.T) {
	err := Run(t.Context(), Config{DataDir: t.TempDir(), GRPCAddr: "127.0.0.1:0", HTTPAddr: "0.0.0.0:0"})
	if err == nil || !strings.Contains(err.Error(), "ANALYTICS_HTTP_ADDR") || !strings.Contains(err.Error(), "SERVICE_TOKEN") {
		t.Fatalf("Run = %v, want a refusal naming ANALYTICS_HTTP_ADDR and SERVICE_TOKEN", err)
	}
}
