package standalone_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/grpcserver"
	"github.com/hookmesh/hookmesh/platform/standalone"
	"github.com/hookmesh/hookmesh/platform/telemetry"
)

// admin is an in-test AdminService with one event.
type admin struct {
	adminv1.UnimplementedAdminServiceServer
}

func (admin) ListEvents(context.Context, *adminv1.ListEventsRequest) (*adminv1.ListEventsResponse, error) {
	return &adminv1.ListEventsResponse{Events: []*eventv1.Event{{Id: "evt_1"}}}, nil
}

func (admin) GetEvent(_ context.Context, req *adminv1.GetEventRequest) (*adminv1.GetEventResponse, error) {
	if req.GetId() != "evt_1" {
		return nil, status.Error(codes.NotFound, "no such event")
	}
	return &adminv1.GetEventResponse{Event: &eventv1.Event{Id: "evt_1"}}, nil
}

const token = "operator-token"

// service records what the runner does with it.
type service struct {
	notReady atomic.Bool
	started  atomic.Pointer[context.Context]
	closes   atomic.Int32
	// onClose runs in Close, to look at the process at that moment.
	onClose func()
}

func (s *service) hooks(reg prometheus.Registerer) (*standalone.Service, error) {
	calls := prometheus.NewCounter(prometheus.CounterOpts{Name: "standalone_test_calls_total", Help: "Calls."})
	if err := reg.Register(calls); err != nil {
		return nil, err
	}
	return &standalone.Service{
		Register:        func(g *grpc.Server) { adminv1.RegisterAdminServiceServer(g, admin{}) },
		RegisterGateway: adminv1.RegisterAdminServiceHandler,
		Ready: func(context.Context) error {
			if s.notReady.Load() {
				return errors.New("store down")
			}
			return nil
		},
		Start: func(ctx context.Context) { s.started.Store(&ctx) },
		Close: func() error {
			s.closes.Add(1)
			if s.onClose != nil {
				s.onClose()
			}
			return nil
		},
	}, nil
}

// config mounts one event publicly and the rest behind the token, like email.
func config(svc *service) standalone.Config {
	return standalone.Config{
		Component:   "test",
		GRPCAddrEnv: "TEST_GRPC_ADDR",
		HTTPAddrEnv: "TEST_HTTP_ADDR",
		Routes: []standalone.Route{
			{Pattern: "GET /v1/events/{id}", Public: true},
			{Pattern: "/v1/", AdminToken: token},
		},
		New: func(_ context.Context, tel *telemetry.Provider, _ *slog.Logger) (*standalone.Service, error) {
			return svc.hooks(tel.Registry)
		},
	}
}

func newTelemetry(t *testing.T) *telemetry.Provider {
	t.Helper()
	tel, err := telemetry.Setup(t.Context(), telemetry.Config{Component: "test", SkipRuntimeMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.WithoutCancel(t.Context())) }) // t.Context is cancelled by now
	return tel
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return lis
}

// closed reports whether nothing accepts connections at addr any more.
func closed(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	_ = c.Close()
	return false
}

var quiet = slog.New(slog.DiscardHandler)

func waitHealthy(t *testing.T, cfg standalone.Config) {
	t.Helper()
	// Liveness deadline, not a timing assertion.
	deadline := time.Now().Add(20 * time.Second)
	for standalone.Health(t.Context(), cfg) != nil {
		if time.Now().After(deadline) {
			t.Fatal("never became healthy")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// get returns the status and body of GET url, with a bearer token if set.
func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestServe serves on loopback port-0 listeners: gRPC health and calls, the
// HTTP routes, and a clean stop that closes the listeners before the service.
func TestServe(t *testing.T) {
	lis, hlis := listen(t), listen(t)
	grpcAddr, httpAddr := lis.Addr().String(), hlis.Addr().String()
	var atClose struct{ grpcClosed, httpClosed bool }
	svc := &service{onClose: func() {
		atClose.grpcClosed, atClose.httpClosed = closed(grpcAddr), closed(httpAddr)
	}}
	cfg := config(svc)
	cfg.GRPCAddr = grpcAddr
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- standalone.Serve(ctx, cfg, newTelemetry(t), quiet, lis, hlis) }()

	waitHealthy(t, cfg)
	if svc.started.Load() == nil {
		t.Error("Start was not called")
	}

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	list, err := adminv1.NewAdminServiceClient(conn).ListEvents(t.Context(), &adminv1.ListEventsRequest{})
	if err != nil || len(list.GetEvents()) != 1 {
		t.Fatalf("ListEvents over gRPC = %v, %v", list, err)
	}
	// Every service's server answers reflection (grpcurl list) with its services.
	if names, err := grpcserver.ListServices(t.Context(), conn); err != nil || !slices.Contains(names, adminv1.AdminService_ServiceDesc.ServiceName) {
		t.Fatalf("reflection lists %q, %v; want %s", names, err, adminv1.AdminService_ServiceDesc.ServiceName)
	}

	base := "http://" + httpAddr
	for _, tc := range []struct {
		name     string
		path     string
		token    string
		notReady bool
		want     int
		wantBody string
	}{
		{"healthz", "/healthz", "", false, 200, "ok"},
		{"healthz while not ready", "/healthz", "", true, 503, "store unavailable"},
		{"metrics", "/metrics", "", false, 200, "standalone_test_calls_total 0"},
		{"public route without token", "/v1/events/evt_1", "", false, 200, `"id":"evt_1"`},
		{"public route maps gRPC errors", "/v1/events/nope", "", false, 404, `"code":"not_found"`},
		{"private route", "/v1/events", token, false, 200, `"events"`},
		{"private route without token", "/v1/events", "", false, 401, `"code":"unauthenticated"`},
		{"no route", "/elsewhere", "", false, 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc.notReady.Store(tc.notReady)
			defer svc.notReady.Store(false)
			code, body := get(t, base+tc.path, tc.token)
			if code != tc.want || !strings.Contains(body, tc.wantBody) {
				t.Fatalf("GET %s = %d %s, want %d with %q", tc.path, code, body, tc.want, tc.wantBody)
			}
		})
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve = %v, want nil after cancel", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not stop")
	}
	if n := svc.closes.Load(); n != 1 {
		t.Errorf("Close called %d times, want 1", n)
	}
	if !atClose.grpcClosed || !atClose.httpClosed {
		t.Errorf("at Close: gRPC listener closed %v, HTTP listener closed %v; want both", atClose.grpcClosed, atClose.httpClosed)
	}
	if p := svc.started.Load(); p != nil && (*p).Err() == nil {
		t.Error("Start's context still live after Serve returned")
	}
	if !closed(grpcAddr) || !closed(httpAddr) {
		t.Error("a listener is still open")
	}
	if standalone.Health(t.Context(), cfg) == nil {
		t.Error("still healthy after stop")
	}
}

// TestServeWithoutHTTP serves gRPC alone when there is no HTTP listener.
func TestServeWithoutHTTP(t *testing.T) {
	lis := listen(t)
	svc := &service{}
	cfg := config(svc)
	cfg.GRPCAddr = lis.Addr().String()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- standalone.Serve(ctx, cfg, newTelemetry(t), quiet, lis, nil) }()
	waitHealthy(t, cfg)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if svc.closes.Load() != 1 || !closed(cfg.GRPCAddr) {
		t.Errorf("after stop: %d closes, listener closed %v", svc.closes.Load(), closed(cfg.GRPCAddr))
	}
}

// TestServeFailsBeforeServing: whatever fails before serving, Serve returns
// it and closes both listeners (and a service it built).
func TestServeFailsBeforeServing(t *testing.T) {
	errNew := errors.New("store unreachable")
	for _, tc := range []struct {
		name       string
		edit       func(*standalone.Config, *service)
		want       string
		wantCloses int32
	}{
		{"invalid config", func(c *standalone.Config, _ *service) { c.Component = "" }, "Component", 0},
		{"New fails", func(c *standalone.Config, _ *service) {
			c.New = func(context.Context, *telemetry.Provider, *slog.Logger) (*standalone.Service, error) {
				return nil, errNew
			}
		}, errNew.Error(), 0},
		{"service without RegisterGateway", func(c *standalone.Config, s *service) {
			c.New = func(_ context.Context, tel *telemetry.Provider, _ *slog.Logger) (*standalone.Service, error) {
				h, err := s.hooks(tel.Registry)
				if h != nil {
					h.RegisterGateway = nil
				}
				return h, err
			}
		}, "RegisterGateway", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lis, hlis := listen(t), listen(t)
			svc := &service{}
			cfg := config(svc)
			tc.edit(&cfg, svc)
			err := standalone.Serve(t.Context(), cfg, newTelemetry(t), quiet, lis, hlis)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Serve = %v, want an error with %q", err, tc.want)
			}
			if !closed(lis.Addr().String()) || !closed(hlis.Addr().String()) {
				t.Error("listener left open")
			}
			if n := svc.closes.Load(); n != tc.wantCloses {
				t.Errorf("Close called %d times, want %d", n, tc.wantCloses)
			}
		})
	}
}

// freeAddr is a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	lis := listen(t)
	addr := lis.Addr().String()
	_ = lis.Close()
	return addr
}

// TestRunListenErrors: a listen error names the variable the address came
// from, and the gRPC listener is closed again when HTTP cannot listen.
func TestRunListenErrors(t *testing.T) {
	busy := listen(t)
	t.Cleanup(func() { _ = busy.Close() })
	grpcAddr := freeAddr(t)
	for _, tc := range []struct {
		name               string
		grpcAddr, httpAddr string
		want               string
	}{
		{"gRPC address busy", busy.Addr().String(), "", "listen on TEST_GRPC_ADDR"},
		{"HTTP address busy", grpcAddr, busy.Addr().String(), "listen on TEST_HTTP_ADDR"},
		{"invalid gRPC address", "256.0.0.1:99999", "", "listen on TEST_GRPC_ADDR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(&service{})
			cfg.GRPCAddr, cfg.HTTPAddr = tc.grpcAddr, tc.httpAddr
			cfg.New = func(context.Context, *telemetry.Provider, *slog.Logger) (*standalone.Service, error) {
				t.Error("New called although listening failed")
				return nil, errors.New("unexpected")
			}
			err := standalone.Run(t.Context(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run = %v, want an error with %q", err, tc.want)
			}
		})
	}
	// The HTTP case listened on grpcAddr first; Run must have let it go.
	lis, err := net.Listen("tcp", grpcAddr)
	if err != nil {
		t.Fatalf("gRPC address still held after the HTTP listen error: %v", err)
	}
	_ = lis.Close()
}

// TestRunStopsOnCancel runs the whole process (telemetry, listeners, serving)
// and stops it.
func TestRunStopsOnCancel(t *testing.T) {
	svc := &service{}
	cfg := config(svc)
	cfg.GRPCAddr, cfg.HTTPAddr = freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- standalone.Run(ctx, cfg) }()
	waitHealthy(t, cfg)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if svc.closes.Load() != 1 || !closed(cfg.GRPCAddr) || !closed(cfg.HTTPAddr) {
		t.Errorf("after stop: %d closes, listeners closed %v %v", svc.closes.Load(), closed(cfg.GRPCAddr), closed(cfg.HTTPAddr))
	}
}

func TestHealthOfNothing(t *testing.T) {
	cfg := config(&service{})
	cfg.GRPCAddr = freeAddr(t)
	if err := standalone.Health(t.Context(), cfg); err == nil {
		t.Fatal("Health succeeded with nothing listening")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*standalone.Config)
		want string // "" means valid
	}{
		{"valid", func(*standalone.Config) {}, ""},
		{"no HTTP needs no HTTP variable", func(c *standalone.Config) { c.HTTPAddrEnv = "" }, ""},
		{"no component", func(c *standalone.Config) { c.Component = "" }, "Component"},
		{"no gRPC variable", func(c *standalone.Config) { c.GRPCAddrEnv = "" }, "GRPCAddrEnv"},
		{"HTTP without its variable", func(c *standalone.Config) { c.HTTPAddr, c.HTTPAddrEnv = "127.0.0.1:0", "" }, "HTTPAddrEnv"},
		{"no New", func(c *standalone.Config) { c.New = nil }, "New"},
		{"route without pattern", func(c *standalone.Config) { c.Routes = []standalone.Route{{}} }, `route ""`},
		{"route over /healthz", func(c *standalone.Config) { c.Routes = []standalone.Route{{Pattern: "GET /healthz"}} }, `route "GET /healthz"`},
		{"same route twice", func(c *standalone.Config) { c.Routes = append(c.Routes, c.Routes[0]) }, "route"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(&service{})
			tc.edit(&cfg)
			err := cfg.Validate()
			if tc.want == "" && err != nil {
				t.Fatalf("Validate = %v, want nil", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate = %v, want an error with %q", err, tc.want)
			}
		})
	}
}
