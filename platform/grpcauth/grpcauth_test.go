package grpcauth_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	"github.com/hookmesh/hookmesh/platform/grpcauth"
	"github.com/hookmesh/hookmesh/platform/grpcserver"
	"github.com/hookmesh/hookmesh/platform/grpcserver/grpcservertest"
)

const token = "s3cret-token"

type consumer struct {
	consumerv1.UnimplementedEventConsumerServiceServer
}

func (consumer) Deliver(context.Context, *consumerv1.DeliverRequest) (*consumerv1.DeliverResponse, error) {
	return &consumerv1.DeliverResponse{}, nil
}

// start serves EventConsumerService and health on loopback behind Require and
// returns the server's address.
func start(t *testing.T, token string, open ...string) string {
	t.Helper()
	conn := grpcservertest.MustStartWith(t, grpcserver.Config{
		Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Options: grpcauth.Require(token, open...),
	}, func(s *grpc.Server) { consumerv1.RegisterEventConsumerServiceServer(s, consumer{}) })
	return conn.Target()
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRequire(t *testing.T) {
	addr := start(t, token, healthpb.Health_ServiceDesc.ServiceName)
	tests := []struct {
		name    string
		dial    []grpc.DialOption
		md      []string // extra outgoing metadata, key/value pairs
		code    codes.Code
		message string
	}{
		{"no token", nil, nil, codes.Unauthenticated, "missing bearer token"},
		{"empty token sends nothing", []grpc.DialOption{grpcauth.WithBearer("")}, nil, codes.Unauthenticated, "missing bearer token"},
		{"wrong token", []grpc.DialOption{grpcauth.WithBearer("s3cret-tokeN")}, nil, codes.Unauthenticated, "invalid token"},
		{"longer token", []grpc.DialOption{grpcauth.WithBearer(token + "x")}, nil, codes.Unauthenticated, "invalid token"},
		{"other scheme", nil, []string{"authorization", "Basic " + token}, codes.Unauthenticated, "missing bearer token"},
		{"right token", []grpc.DialOption{grpcauth.WithBearer(token)}, nil, codes.OK, ""},
		{"lower-case scheme", nil, []string{"authorization", "bearer " + token}, codes.OK, ""},
		// grpc-gateway forwards the HTTP caller's header next to the conn's own.
		{"right token among others", []grpc.DialOption{grpcauth.WithBearer(token)}, []string{"authorization", "Bearer stale"}, codes.OK, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := consumerv1.NewEventConsumerServiceClient(grpcservertest.MustDial(t, addr, tc.dial...))
			ctx := testCtx(t)
			if len(tc.md) > 0 {
				ctx = metadata.AppendToOutgoingContext(ctx, tc.md...)
			}
			_, err := client.Deliver(ctx, &consumerv1.DeliverRequest{})
			if status.Code(err) != tc.code {
				t.Fatalf("Deliver: %v, want %v", err, tc.code)
			}
			if err != nil && status.Convert(err).Message() != tc.message {
				t.Errorf("message %q, want %q", status.Convert(err).Message(), tc.message)
			}
			if err != nil && containsToken(status.Convert(err).Message()) {
				t.Error("the error echoes a token")
			}
		})
	}
	t.Run("open service without token", func(t *testing.T) {
		resp, err := healthpb.NewHealthClient(grpcservertest.MustDial(t, addr)).Check(testCtx(t), &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health: %v, %v; want SERVING", resp.GetStatus(), err)
		}
	})
}

// The stream interceptor guards streaming methods (health's Watch, when health
// is not left open).
func TestRequireStreams(t *testing.T) {
	addr := start(t, token)
	for _, tc := range []struct {
		name string
		dial []grpc.DialOption
		code codes.Code
	}{
		{"no token", nil, codes.Unauthenticated},
		{"wrong token", []grpc.DialOption{grpcauth.WithBearer("nope")}, codes.Unauthenticated},
		{"right token", []grpc.DialOption{grpcauth.WithBearer(token)}, codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := healthpb.NewHealthClient(grpcservertest.MustDial(t, addr, tc.dial...)).Watch(testCtx(t), &healthpb.HealthCheckRequest{})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := w.Recv()
			if status.Code(err) != tc.code {
				t.Fatalf("Watch: %v, want %v", err, tc.code)
			}
			if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("Watch: %v, want SERVING", resp.GetStatus())
			}
		})
	}
}

// An empty configured token fails closed rather than matching "Bearer ".
func TestRequireEmptyTokenFailsClosed(t *testing.T) {
	addr := start(t, "")
	ctx := metadata.AppendToOutgoingContext(testCtx(t), "authorization", "Bearer ")
	_, err := consumerv1.NewEventConsumerServiceClient(grpcservertest.MustDial(t, addr)).Deliver(ctx, &consumerv1.DeliverRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("Deliver: %v, want Unauthenticated", err)
	}
}

func containsToken(s string) bool {
	for _, t := range []string{token, "s3cret-tokeN", "stale"} {
		if strings.Contains(s, t) {
			return true
		}
	}
	return false
}
