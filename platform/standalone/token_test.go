package standalone_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	"github.com/hookmesh/hookmesh/platform/grpcauth"
	"github.com/hookmesh/hookmesh/platform/grpcauth/grpcauthtest"
	"github.com/hookmesh/hookmesh/platform/grpcserver/grpcservertest"
	"github.com/hookmesh/hookmesh/platform/standalone"
)

const serviceToken = "service-token-for-tests"

// serve runs cfg on loopback listeners until the test ends and waits until healthy.
func serve(t *testing.T, cfg standalone.Config) (grpcAddr, httpBase string) {
	t.Helper()
	lis, hlis := listen(t), listen(t)
	cfg.GRPCAddr = lis.Addr().String()
	done := make(chan error, 1)
	go func() { done <- standalone.Serve(t.Context(), cfg, newTelemetry(t), quiet, lis, hlis) }()
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	waitHealthy(t, cfg)
	return cfg.GRPCAddr, "http://" + hlis.Addr().String()
}

// With SERVICE_TOKEN, every gRPC call but health and every REST route but the
// public one need it; the route's own admin token is accepted there too.
func TestServiceToken(t *testing.T) {
	cfg := config(&service{})
	cfg.Token = serviceToken
	grpcAddr, base := serve(t, cfg)

	for _, tc := range []struct {
		name   string
		bearer string
		code   codes.Code
	}{
		{"no token", "", codes.Unauthenticated},
		{"admin token is not the service token", token, codes.Unauthenticated},
		{"service token", serviceToken, codes.OK},
	} {
		t.Run("grpc/"+tc.name, func(t *testing.T) {
			_, err := adminv1.NewAdminServiceClient(grpcservertest.MustDial(t, grpcAddr, grpcauth.WithBearer(tc.bearer))).
				ListEvents(t.Context(), &adminv1.ListEventsRequest{})
			if status.Code(err) != tc.code {
				t.Fatalf("ListEvents: %v, want %v", err, tc.code)
			}
		})
	}
	t.Run("grpc/health without token", func(t *testing.T) {
		resp, err := healthpb.NewHealthClient(grpcservertest.MustDial(t, grpcAddr)).Check(t.Context(), &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health: %v %v", resp.GetStatus(), err)
		}
	})
	for _, tc := range []struct {
		name, path, bearer string
		want               int
	}{
		{"private without token", "/v1/events", "", 401},
		{"private with the service token", "/v1/events", serviceToken, 200},
		{"private with the route's admin token", "/v1/events", token, 200},
		{"private with another token", "/v1/events", "nope", 401},
		{"public without token", "/v1/events/evt_1", "", 200},
	} {
		t.Run("rest/"+tc.name, func(t *testing.T) {
			if code, body := get(t, base+tc.path, tc.bearer); code != tc.want {
				t.Fatalf("GET %s: %d %s, want %d", tc.path, code, body, tc.want)
			}
		})
	}
}

// A listener off loopback without SERVICE_TOKEN is refused at start, naming
// the variables.
func TestServeRefusesOpenNetworkListener(t *testing.T) {
	wide := func(t *testing.T) net.Listener {
		lis, err := net.Listen("tcp", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		return lis
	}
	for _, tc := range []struct {
		name      string
		lis, hlis func(*testing.T) net.Listener
		want      string
	}{
		{"grpc", wide, listen, "TEST_GRPC_ADDR listens on "},
		{"http", listen, wide, "TEST_HTTP_ADDR listens on "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(&service{})
			cfg.Routes[1].AdminToken = "" // a private route without a token of its own
			err := standalone.Serve(t.Context(), cfg, newTelemetry(t), quiet, tc.lis(t), tc.hlis(t))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "SERVICE_TOKEN") {
				t.Fatalf("Serve = %v, want a refusal with %q and SERVICE_TOKEN", err, tc.want)
			}
		})
	}
	// HTTP off loopback is fine when every private route has a token of its own.
	t.Run("http with route tokens", func(t *testing.T) {
		cfg := config(&service{}) // its private route has AdminToken
		lis := listen(t)
		cfg.GRPCAddr = lis.Addr().String()
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- standalone.Serve(ctx, cfg, newTelemetry(t), quiet, lis, wide(t)) }()
		waitHealthy(t, cfg)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	// With the token the same listeners serve.
	cfg := config(&service{})
	cfg.Token = serviceToken
	lis := wide(t)
	cfg.GRPCAddr = lis.Addr().String()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- standalone.Serve(ctx, cfg, newTelemetry(t), quiet, lis, wide(t)) }()
	waitHealthy(t, cfg)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Under mutual TLS: clients need the CA and a certificate; the REST front
// door and the health subcommand dial the process's own listener.
func TestServeMutualTLS(t *testing.T) {
	certs := grpcauthtest.New(t)
	cfg := config(&service{})
	cfg.Token = serviceToken
	cfg.TLS = grpcauth.ServerTLS{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, ClientCAFile: certs.CAFile}
	grpcAddr, base := serve(t, cfg) // waits on standalone.Health over TLS

	dial := func(c grpcauth.ClientTLS) *grpc.ClientConn {
		tc, err := c.Config()
		if err != nil {
			t.Fatal(err)
		}
		return grpcservertest.MustDial(t, grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(tc)), grpcauth.WithBearer(serviceToken))
	}
	if _, err := adminv1.NewAdminServiceClient(dial(grpcauth.ClientTLS{CAFile: certs.CAFile, CertFile: certs.ClientCert, KeyFile: certs.ClientKey})).
		ListEvents(t.Context(), &adminv1.ListEventsRequest{}); err != nil {
		t.Fatalf("mTLS client: %v", err)
	}
	if _, err := adminv1.NewAdminServiceClient(dial(grpcauth.ClientTLS{CAFile: certs.CAFile})).
		ListEvents(t.Context(), &adminv1.ListEventsRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("client without certificate: %v, want Unavailable", err)
	}
	if _, err := adminv1.NewAdminServiceClient(grpcservertest.MustDial(t, grpcAddr, grpcauth.WithBearer(serviceToken))).
		ListEvents(t.Context(), &adminv1.ListEventsRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("plaintext client: %v, want Unavailable", err)
	}
	if code, body := get(t, base+"/v1/events", serviceToken); code != 200 {
		t.Fatalf("REST over the TLS self-dial: %d %s", code, body)
	}
}

// Without any token (loopback only) the private routes still refuse a
// rebound DNS name; the public ones and /healthz take any Host.
func TestServeWithoutTokenChecksHost(t *testing.T) {
	cfg := config(&service{})
	cfg.Routes[1].AdminToken = ""
	_, base := serve(t, cfg)
	for _, tc := range []struct {
		path, host string
		want       int
	}{
		{"/v1/events", "evil.example", http.StatusForbidden},
		{"/v1/events", "localhost", http.StatusOK},
		{"/v1/events/evt_1", "verify.example.com", http.StatusOK},
		{"/healthz", "email", http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodGet, base+tc.path, nil)
		req.Host = tc.host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s with Host %s: %d, want %d", tc.path, tc.host, resp.StatusCode, tc.want)
		}
	}
}

// Issue 17: /metrics off loopback needs SERVICE_TOKEN (or a route's token);
// on loopback it stays open.
func TestMetricsNeedTokenOffLoopback(t *testing.T) {
	cfg := config(&service{})
	cfg.Token = serviceToken
	lis := listen(t)
	hlis, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.GRPCAddr = lis.Addr().String()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- standalone.Serve(ctx, cfg, newTelemetry(t), quiet, lis, hlis) }()
	waitHealthy(t, cfg)
	_, port, _ := net.SplitHostPort(hlis.Addr().String())
	base := "http://127.0.0.1:" + port
	for bearer, want := range map[string]int{"": 401, "nope": 401, serviceToken: 200} {
		if code, body := get(t, base+"/metrics", bearer); code != want {
			t.Errorf("GET /metrics with %q: %d %s, want %d", bearer, code, body, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	_, loop := serve(t, config(&service{}))
	if code, body := get(t, loop+"/metrics", ""); code != 200 {
		t.Errorf("GET /metrics on loopback: %d %s, want 200", code, body)
	}
}
