package gateway

import (
	"context"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/hookmesh/hookmesh/gateway/internal/config"
	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/grpcauth"
	"github.com/hookmesh/hookmesh/platform/grpcserver"
	"github.com/hookmesh/hookmesh/platform/grpcserver/grpcservertest"
)

// testConfig plus the demo's subscription of the gateway's own health consumer.
const healthConfig = testConfig + `subscriptions:
  - name: gateway-health
    target: builtin:gateway
    events: [cron.health-check]
    retry: {policy: fixed, num_retries: 0}
    timeout: 10s
`

func grpcCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// With an admin token, every gRPC method but health needs it (reflection too); REST and the
// dispatcher's deliveries to builtin:gateway go on working through the gateway's
// own connection.
func TestGRPCAPIRequiresToken(t *testing.T) {
	const token = "grpc-admin-token"
	file, err := config.Parse([]byte(healthConfig))
	if err != nil {
		t.Fatal(err)
	}
	g := start(t, Config{AdminToken: token}, Deps{File: file})

	// One call per service on the gRPC API; each returns the call's error.
	calls := map[string]func(context.Context, *grpc.ClientConn) error{
		"AdminService": func(ctx context.Context, c *grpc.ClientConn) error {
			_, err := adminv1.NewAdminServiceClient(c).ListEvents(ctx, &adminv1.ListEventsRequest{})
			return err
		},
		"PublisherService": func(ctx context.Context, c *grpc.ClientConn) error {
			_, err := eventv1.NewPublisherServiceClient(c).Publish(ctx, &eventv1.PublishRequest{Event: &eventv1.Event{Source: "test", Id: "p-1", Type: "test.published"}})
			return err
		},
		"ServerReflection": func(ctx context.Context, c *grpc.ClientConn) error {
			names, err := grpcserver.ListServices(ctx, c)
			for _, want := range []string{adminv1.AdminService_ServiceDesc.ServiceName, eventv1.PublisherService_ServiceDesc.ServiceName} {
				if err == nil && !slices.Contains(names, want) {
					t.Errorf("reflection lists %q, without %s", names, want)
				}
			}
			return err
		},
		"EventConsumerService": func(ctx context.Context, c *grpc.ClientConn) error {
			_, err := consumerv1.NewEventConsumerServiceClient(c).Deliver(ctx, &consumerv1.DeliverRequest{Event: &eventv1.Event{Source: "test", Id: "d-1", Type: "cron.health-check"}})
			return err
		},
	}
	tests := []struct {
		name    string
		dial    []grpc.DialOption
		code    codes.Code
		message string
	}{
		{"no token", nil, codes.Unauthenticated, "missing bearer token"},
		{"wrong token", []grpc.DialOption{grpcauth.WithBearer("not-the-token")}, codes.Unauthenticated, "invalid token"},
		{"right token", []grpc.DialOption{grpcauth.WithBearer(token)}, codes.OK, ""},
	}
	for _, tc := range tests {
		conn := grpcservertest.MustDial(t, g.GRPCAddr(), tc.dial...)
		for svc, call := range calls {
			t.Run(tc.name+"/"+svc, func(t *testing.T) {
				err := call(grpcCtx(t), conn)
				if status.Code(err) != tc.code {
					t.Fatalf("got %v, want %v", err, tc.code)
				}
				if msg := status.Convert(err).Message(); err != nil && msg != tc.message {
					t.Errorf("message %q, want %q", msg, tc.message)
				}
			})
		}
	}

	t.Run("health without token", func(t *testing.T) {
		resp, err := healthpb.NewHealthClient(grpcservertest.MustDial(t, g.GRPCAddr())).Check(grpcCtx(t), &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health: %v, %v; want SERVING", resp.GetStatus(), err)
		}
	})

	t.Run("REST with the bearer", func(t *testing.T) {
		// The event published over gRPC above, read through REST → gRPC.
		getEventually(t, "http://"+g.AdminAddr()+"/v1/events/p-1?source=test", token)
		if status, _ := get(t, "http://"+g.AdminAddr()+"/v1/events/p-1?source=test", ""); status != http.StatusUnauthorized {
			t.Fatalf("REST without the bearer: %d", status)
		}
	})

	t.Run("dispatcher delivers to builtin:gateway", func(t *testing.T) {
		_, err := eventv1.NewPublisherServiceClient(grpcservertest.MustDial(t, g.GRPCAddr(), grpcauth.WithBearer(token))).
			Publish(grpcCtx(t), &eventv1.PublishRequest{Event: &eventv1.Event{Source: "cron", Id: "hc-1", Type: "cron.health-check"}})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, body := getEventually(t, "http://"+g.AdminAddr()+"/v1/events/hc-1?source=cron", token)
			state := ""
			ds, _ := body["deliveries"].([]any)
			for _, d := range ds {
				if m, _ := d.(map[string]any); m["subscription"] == "gateway-health" {
					state, _ = m["state"].(string)
				}
			}
			if state == "DELIVERY_STATE_DELIVERED" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("gateway-health delivery: %q, want delivered (%v)", state, body)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// Without a token the gRPC API stays open on loopback (the laptop default).
func TestGRPCAPIOpenOnLoopbackWithoutToken(t *testing.T) {
	g := start(t, Config{}, Deps{})
	if _, err := adminv1.NewAdminServiceClient(grpcservertest.MustDial(t, g.GRPCAddr())).ListEvents(grpcCtx(t), &adminv1.ListEventsRequest{}); err != nil {
		t.Fatalf("ListEvents without a token: %v", err)
	}
}

// publicListener listens on every interface, port 0 (a non-loopback address).
func publicListener(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// A gRPC API off loopback needs the token, like REST; refused before the log opens.
func TestNewRefusesPublicGRPCWithoutToken(t *testing.T) {
	dataDir := t.TempDir()
	g, err := New(t.Context(), Config{HTTPAddr: "127.0.0.1:0", DataDir: dataDir},
		Deps{File: testFile(t), Secrets: secrets, GRPCListener: publicListener(t)})
	if err == nil {
		g.Close()
		t.Fatal("accepted")
	}
	for _, want := range []string{"HOOKMESH_ADMIN_TOKEN", "HOOKMESH_GRPC_ADDR"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if left, _ := os.ReadDir(dataDir); len(left) != 0 {
		t.Errorf("refused start left %d entries in the data dir", len(left))
	}
	// With a token it serves, and asks for the token.
	g = start(t, Config{AdminToken: "a-long-enough-token"}, Deps{GRPCListener: publicListener(t)})
	_, port, _ := net.SplitHostPort(g.GRPCAddr())
	_, err = adminv1.NewAdminServiceClient(grpcservertest.MustDial(t, net.JoinHostPort("127.0.0.1", port))).ListEvents(grpcCtx(t), &adminv1.ListEventsRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("ListEvents without a token on the public listener: %v, want Unauthenticated", err)
	}
}
