package gateway

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/hookmesh/hookmesh/gateway/internal/config"
	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/eventually"
	"github.com/hookmesh/hookmesh/platform/grpcauth"
	"github.com/hookmesh/hookmesh/platform/grpcauth/grpcauthtest"
	"github.com/hookmesh/hookmesh/platform/grpcserver"
	"github.com/hookmesh/hookmesh/platform/grpcserver/grpcservertest"
)

// recorder is an EventConsumerService counting what reached it.
type recorder struct {
	consumerv1.UnimplementedEventConsumerServiceServer
	mu  sync.Mutex
	got map[string]int
}

func (r *recorder) Deliver(_ context.Context, req *consumerv1.DeliverRequest) (*consumerv1.DeliverResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got[req.GetSubscription()]++
	return &consumerv1.DeliverResponse{}, nil
}

func (r *recorder) count(sub string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[sub]
}

// lookup resolves secrets from m, then the test sources' secrets.
func lookup(m map[string]string) config.SecretLookup {
	return func(name string) (string, bool, error) {
		if v, ok := m[name]; ok {
			return v, true, nil
		}
		return secrets(name)
	}
}

func parse(t *testing.T, yaml string) *config.File {
	t.Helper()
	f, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// The dispatcher reaches a service that requires SERVICE_TOKEN and mutual
// TLS through the subscription's token_from_env and tls; without the token the
// service refuses the delivery.
func TestSubscriptionTokenAndTLS(t *testing.T) {
	const serviceToken = "consumer-service-token"
	certs := grpcauthtest.New(t)
	tlsOpts, err := grpcauth.ServerTLS{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, ClientCAFile: certs.CAFile}.ServerOptions()
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{got: map[string]int{}}
	srv, err := grpcserver.New(grpcserver.Config{Logger: testLogger(), Options: append(tlsOpts, grpcauth.Require(serviceToken)...)})
	if err != nil {
		t.Fatal(err)
	}
	consumerv1.RegisterEventConsumerServiceServer(srv.GRPC(), rec)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(t.Context(), lis) }()
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})

	tlsYAML := "    tls: {ca_file: " + certs.CAFile + ", cert_file: " + certs.ClientCert + ", key_file: " + certs.ClientKey + ", server_name: " + grpcauthtest.ServerName + "}\n"
	file := parse(t, testConfig+"subscriptions:\n"+
		"  - name: secure\n    target: "+lis.Addr().String()+"\n    events: [test.secure]\n    token_from_env: CONSUMER_TOKEN\n"+tlsYAML+
		"  - name: tokenless\n    target: "+lis.Addr().String()+"\n    events: [test.secure]\n    retry: {policy: fixed, num_retries: 0}\n"+tlsYAML)
	g := start(t, Config{}, Deps{File: file, Secrets: lookup(map[string]string{"CONSUMER_TOKEN": serviceToken})})

	pub := eventv1.NewPublisherServiceClient(grpcservertest.MustDial(t, g.GRPCAddr()))
	if _, err := pub.Publish(t.Context(), &eventv1.PublishRequest{Event: &eventv1.Event{Source: "test", Id: "s-1", Type: "test.secure"}}); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 20*time.Second, "delivery over mTLS with the token", func() bool { return rec.count("secure") == 1 })
	// The tokenless subscription's one attempt was refused (UNAUTHENTICATED).
	eventually.True(t, 20*time.Second, "tokenless attempt refused", func() bool {
		_, body := get(t, "http://"+g.AdminAddr()+"/v1/events/s-1?source=test", "")
		ds, _ := body["deliveries"].([]any)
		for _, d := range ds {
			m, _ := d.(map[string]any)
			if m["subscription"] != "tokenless" {
				continue
			}
			as, _ := m["attempts"].([]any)
			for _, a := range as {
				if am, _ := a.(map[string]any); am["code"] == "UNAUTHENTICATED" {
					return true
				}
			}
		}
		return false
	})
	if n := rec.count("tokenless"); n != 0 {
		t.Fatalf("the service took %d deliveries without its token", n)
	}
}

// An unset token_from_env variable is an error at start naming it.
func TestMissingTokenVariable(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"subscription", testConfig + "subscriptions:\n  - name: email\n    target: 127.0.0.1:1\n    events: [a]\n    token_from_env: EMAIL_SERVICE_TOKEN\n", `subscription "email": token_from_env: EMAIL_SERVICE_TOKEN is not set`},
		{"publisher", testConfig + "publishers:\n  - {name: orders, token_from_env: ORDERS_PUBLISHER_TOKEN, types: [orders.*]}\n", `publisher "orders": token_from_env: ORDERS_PUBLISHER_TOKEN is not set`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := New(t.Context(), Config{HTTPAddr: "127.0.0.1:0", DataDir: t.TempDir()}, Deps{File: parse(t, tc.yaml), Secrets: secrets})
			if err == nil {
				g.Close()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want %q", err, tc.want)
			}
		})
	}
}

// A publisher's own token publishes its types only and reaches nothing but
// PublisherService; the admin token is no longer needed to publish.
func TestPublisherToken(t *testing.T) {
	const admin, orders = "admin-token-for-tests", "orders-publisher-token"
	file := parse(t, testConfig+"publishers:\n  - name: orders\n    token_from_env: ORDERS_PUBLISHER_TOKEN\n    types: [\"orders.*\"]\n")
	g := start(t, Config{AdminToken: admin}, Deps{File: file, Secrets: lookup(map[string]string{"ORDERS_PUBLISHER_TOKEN": orders})})
	conn := grpcservertest.MustDial(t, g.GRPCAddr(), grpcauth.WithBearer(orders))
	pub := eventv1.NewPublisherServiceClient(conn)
	if _, err := pub.Publish(t.Context(), &eventv1.PublishRequest{Event: &eventv1.Event{Source: "orders", Id: "o-1", Type: "orders.shipment.created"}}); err != nil {
		t.Fatalf("own type: %v", err)
	}
	_, err := pub.Publish(t.Context(), &eventv1.PublishRequest{Event: &eventv1.Event{Source: "stripe", Id: "evt_forged", Type: "stripe.payment_intent.succeeded"}})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("foreign type: %v, want PermissionDenied", err)
	}
	if _, err := adminv1.NewAdminServiceClient(conn).ListEvents(t.Context(), &adminv1.ListEventsRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("AdminService with the publisher token: %v, want PermissionDenied", err)
	}
	if _, err := eventv1.NewPublisherServiceClient(grpcservertest.MustDial(t, g.GRPCAddr())).
		Publish(t.Context(), &eventv1.PublishRequest{Event: &eventv1.Event{Source: "orders", Id: "o-2", Type: "orders.x"}}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("without a token: %v, want Unauthenticated", err)
	}
	getEventually(t, "http://"+g.AdminAddr()+"/v1/events/o-1?source=orders", admin)
	if status, _ := get(t, "http://"+g.AdminAddr()+"/v1/events/evt_forged?source=stripe", admin); status != 404 {
		t.Fatalf("the refused event was stored: %d", status)
	}
}

// The gateway's gRPC API under mutual TLS (GRPC_TLS_*): clients need the CA
// and a certificate; REST reaches the API through the gateway's own TLS dial.
func TestGatewayGRPCTLS(t *testing.T) {
	certs := grpcauthtest.New(t)
	g := start(t, Config{GRPCTLS: grpcauth.ServerTLS{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, ClientCAFile: certs.CAFile}}, Deps{})
	dial := func(c grpcauth.ClientTLS) *grpc.ClientConn {
		cfg, err := c.Config()
		if err != nil {
			t.Fatal(err)
		}
		return grpcservertest.MustDial(t, g.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	}
	list := func(conn *grpc.ClientConn) error {
		_, err := adminv1.NewAdminServiceClient(conn).ListEvents(t.Context(), &adminv1.ListEventsRequest{})
		return err
	}
	if err := list(dial(grpcauth.ClientTLS{CAFile: certs.CAFile, CertFile: certs.ClientCert, KeyFile: certs.ClientKey})); err != nil {
		t.Fatalf("mTLS client: %v", err)
	}
	if err := list(dial(grpcauth.ClientTLS{CAFile: certs.CAFile})); status.Code(err) != codes.Unavailable {
		t.Fatalf("without a client certificate: %v, want Unavailable", err)
	}
	if err := list(grpcservertest.MustDial(t, g.GRPCAddr())); status.Code(err) != codes.Unavailable {
		t.Fatalf("plaintext: %v, want Unavailable", err)
	}
	if status, body := get(t, "http://"+g.AdminAddr()+"/v1/events", ""); status != 200 {
		t.Fatalf("REST over the TLS self-dial: %d %v", status, body)
	}
}
