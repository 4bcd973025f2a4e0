package publish

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/grpcauth"
)

// A publisher's token publishes only its own event types; the admin token
// (and an anonymous loopback caller) any.
func TestRestrictedPublisher(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	l, err := eventlog.Open(ctx, eventlog.Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	if err := l.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Log: l, Restricted: map[string][]string{"publisher:orders": {"orders.*"}}})
	if err != nil {
		t.Fatal(err)
	}
	policy := grpcauth.Policy{Anonymous: true, Principals: []grpcauth.Principal{
		{Name: grpcauth.Admin, Token: "admin-token"},
		{Name: "publisher:orders", Token: "orders-token", Services: []string{eventv1.PublisherService_ServiceDesc.ServiceName}},
	}}
	gs := grpc.NewServer(policy.ServerOptions()...)
	eventv1.RegisterPublisherServiceServer(gs, srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	client := func(token string) eventv1.PublisherServiceClient {
		cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpcauth.WithBearer(token))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cc.Close() })
		return eventv1.NewPublisherServiceClient(cc)
	}
	for _, tc := range []struct {
		name, token, source, typ string
		code                     codes.Code
	}{
		{"own type", "orders-token", "orders", "orders.shipment.created", codes.OK},
		{"foreign type", "orders-token", "stripe", "stripe.payment_intent.succeeded", codes.PermissionDenied},
		{"prefix without the dot", "orders-token", "orders", "ordersx.forged", codes.PermissionDenied},
		{"admin any type", "admin-token", "stripe", "stripe.charge.refunded", codes.OK},
		{"anonymous on loopback", "", "hookmesh", "hookmesh.test", codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "r-" + strings.ReplaceAll(tc.name, " ", "-")
			_, err := client(tc.token).Publish(ctx, &eventv1.PublishRequest{Event: &eventv1.Event{Id: id, Source: tc.source, Type: tc.typ}})
			if status.Code(err) != tc.code {
				t.Fatalf("Publish %s: %v, want %v", tc.typ, err, tc.code)
			}
			_, _, gerr := l.Get(ctx, tc.source, id)
			if stored := gerr == nil; stored != (tc.code == codes.OK) {
				t.Fatalf("stored = %v (%v), want %v", stored, gerr, tc.code == codes.OK)
			}
			if tc.code != codes.OK && gerr != nil && !errors.Is(gerr, eventlog.ErrNotFound) {
				t.Fatalf("Get: %v", gerr)
			}
		})
	}
	if _, err := New(Config{Log: l, Restricted: map[string][]string{"publisher:x": nil}}); err == nil {
		t.Fatal("a restricted caller without types was accepted")
	}
}
