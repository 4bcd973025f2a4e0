package app

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	emailv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/email/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/grpcauth"
	"github.com/hookmesh/hookmesh/platform/grpcserver/grpcservertest"
	"github.com/hookmesh/hookmesh/platform/telemetry"
)

// The attack of issue 17 item 4 on the email service's own ports: with
// SERVICE_TOKEN set, a caller without it can neither forge a Deliver (no
// welcome mail for anyone@attacker.example in the outbox) nor list messages,
// over gRPC or REST.
func TestServiceTokenGuardsOwnPorts(t *testing.T) {
	const token = "email-service-token"
	tel, err := telemetry.Setup(t.Context(), telemetry.Config{Component: "email", SkipRuntimeMetrics: true})
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
	cfg := Config{DataDir: t.TempDir(), GRPCAddr: lis.Addr().String(), HTTPAddr: hlis.Addr().String(), ServiceToken: token}
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

	row, _ := structpb.NewStruct(map[string]any{"id": "1", "email": "anyone@attacker.example", "name": "Mallory"})
	forged := &consumerv1.DeliverRequest{Subscription: "email", Attempt: 1, Event: &eventv1.Event{
		Id: "forged-1", Source: "hasura", Type: "hasura.public.users.insert", Subject: "public.users/1",
		Payload: &eventv1.Event_HasuraTable{HasuraTable: &eventv1.HasuraTableEvent{
			Op: eventv1.HasuraOperation_HASURA_OPERATION_INSERT, Schema: "public", Table: "users", New: row}}}}
	anon := grpcservertest.MustDial(t, cfg.GRPCAddr)
	if _, err := consumerv1.NewEventConsumerServiceClient(anon).Deliver(t.Context(), forged); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("forged Deliver: %v, want Unauthenticated", err)
	}
	if _, err := emailv1.NewEmailServiceClient(anon).ListMessages(t.Context(), &emailv1.ListMessagesRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("ListMessages without token: %v, want Unauthenticated", err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+hlis.Addr().String()+"/v1/email/messages", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("REST list without token: %d, want 401", resp.StatusCode)
	}
	if files, _ := os.ReadDir(cfg.outboxDir()); len(files) != 0 {
		t.Fatalf("the forged Deliver wrote %d outbox files", len(files))
	}

	// The dispatcher, carrying the token, still delivers; the REST list works with it.
	authed := grpcservertest.MustDial(t, cfg.GRPCAddr, grpcauth.WithBearer(token))
	if _, err := consumerv1.NewEventConsumerServiceClient(authed).Deliver(t.Context(), forged); err != nil {
		t.Fatalf("Deliver with the token: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("REST list with the token: %d", resp.StatusCode)
	}
}
