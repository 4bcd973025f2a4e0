package grpcauth_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	"github.com/hookmesh/hookmesh/platform/grpcauth"
	"github.com/hookmesh/hookmesh/platform/grpcserver"
	"github.com/hookmesh/hookmesh/platform/grpcserver/grpcservertest"
)

// whoami answers Deliver with the caller's principal in the error message.
type whoami struct {
	consumerv1.UnimplementedEventConsumerServiceServer
}

func (whoami) Deliver(ctx context.Context, _ *consumerv1.DeliverRequest) (*consumerv1.DeliverResponse, error) {
	name, ok := grpcauth.FromContext(ctx)
	if !ok {
		name = "(anonymous)"
	}
	return nil, status.Error(codes.AlreadyExists, name)
}

func startPolicy(t *testing.T, p grpcauth.Policy) string {
	t.Helper()
	conn := grpcservertest.MustStartWith(t, grpcserver.Config{
		Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Options: p.ServerOptions(),
	}, func(s *grpc.Server) { consumerv1.RegisterEventConsumerServiceServer(s, whoami{}) })
	return conn.Target()
}

func TestPolicy(t *testing.T) {
	const publisher = "publisher-token"
	principals := []grpcauth.Principal{
		{Name: grpcauth.Admin, Token: token},
		{Name: "publisher:orders", Token: publisher, Services: []string{"hookmesh.event.v1.PublisherService"}},
		{Name: "consumer", Token: "consumer-token", Services: []string{consumerv1.EventConsumerService_ServiceDesc.ServiceName}},
		{Name: "nobody", Token: ""}, // an unset token matches nothing, "Bearer " included
	}
	for _, tc := range []struct {
		name      string
		anonymous bool
		bearer    string
		code      codes.Code
		message   string
	}{
		{"admin", false, token, codes.AlreadyExists, "admin"},
		{"restricted to this service", false, "consumer-token", codes.AlreadyExists, "consumer"},
		{"restricted to another service", false, publisher, codes.PermissionDenied, "publisher:orders may not call hookmesh.consumer.v1.EventConsumerService"},
		{"unknown", false, "guess", codes.Unauthenticated, "invalid token"},
		{"none", false, "", codes.Unauthenticated, "missing bearer token"},
		{"none, anonymous allowed", true, "", codes.AlreadyExists, "(anonymous)"},
		{"unknown, anonymous allowed", true, "guess", codes.Unauthenticated, "invalid token"},
		{"known, anonymous allowed", true, token, codes.AlreadyExists, "admin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := startPolicy(t, grpcauth.Policy{Principals: principals, Anonymous: tc.anonymous, Open: []string{healthpb.Health_ServiceDesc.ServiceName}})
			_, err := consumerv1.NewEventConsumerServiceClient(grpcservertest.MustDial(t, addr, grpcauth.WithBearer(tc.bearer))).
				Deliver(testCtx(t), &consumerv1.DeliverRequest{})
			if status.Code(err) != tc.code || status.Convert(err).Message() != tc.message {
				t.Fatalf("Deliver: %v, want %v %q", err, tc.code, tc.message)
			}
		})
	}
}
