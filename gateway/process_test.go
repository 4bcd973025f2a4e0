package gateway

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hookmesh/hookmesh/platform/envconfig"
)

// The gateway as its own process (gateway/cmd/hookmesh-gateway): Run and Health as
// standalone.Main calls them, with the config loaded from the environment.

// freeAddr returns a loopback address nothing listens on (port 0 picked, then freed).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func TestHealth(t *testing.T) {
	serve := func(code int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/healthz" {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(code)
		}))
		t.Cleanup(srv.Close)
		return srv.Listener.Addr().String()
	}
	okAddr := serve(http.StatusOK)
	_, okPort, _ := net.SplitHostPort(okAddr)
	cases := []struct {
		name    string
		addr    string
		wantErr string
	}{
		{"healthy", okAddr, ""},
		{"every interface means loopback", "0.0.0.0:" + okPort, ""},
		{"empty host means loopback", ":" + okPort, ""},
		{"unhealthy", serve(http.StatusServiceUnavailable), "status 503"},
		{"nothing listening", freeAddr(t), "health check"},
		{"no port", "127.0.0.1", "HOOKMESH_HTTP_ADDR"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Health(t.Context(), ProcessConfig{Gateway: Config{HTTPAddr: c.addr}})
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("health(%s): %v", c.addr, err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("health(%s) = %v, want an error containing %q", c.addr, err, c.wantErr)
			}
		})
	}
}

// gatewayEnv points every gateway variable at a test setup: no external NATS
// (embedded server in a temp dir), a one-source config, loopback listeners.
func gatewayEnv(t *testing.T) (httpAddr, grpcAddr string) {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "hookmesh.yaml")
	yaml := "sources:\n  - name: hasura\n    kind: hasura\n    header: X-Hasura-Webhook-Secret\n    secrets_from_env: [HOOKMESH_GATEWAY_TEST_SECRET]\n"
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr, grpcAddr = freeAddr(t), freeAddr(t)
	for k, v := range map[string]string{
		"HOOKMESH_DATA_DIR":            filepath.Join(dir, "data"),
		"HOOKMESH_HTTP_ADDR":           httpAddr,
		"HOOKMESH_GRPC_ADDR":           grpcAddr,
		"HOOKMESH_CONFIG":              conf,
		"HOOKMESH_GATEWAY_TEST_SECRET": "test-secret",
		"HOOKMESH_ADMIN_ADDR":          "",
		"HOOKMESH_NATS_URL":            "",
		"HOOKMESH_ADMIN_TOKEN":         "",
		"HOOKMESH_ADMIN_TOKEN_FILE":    "",
		"OTEL_EXPORTER_OTLP_ENDPOINT":  "",
	} {
		t.Setenv(k, v)
	}
	return httpAddr, grpcAddr
}

// processConfig loads ProcessConfig from the environment, as standalone.Main does.
func processConfig(t *testing.T) ProcessConfig {
	t.Helper()
	var cfg ProcessConfig
	if err := envconfig.Load(&cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestServeAndHealth(t *testing.T) {
	httpAddr, grpcAddr := gatewayEnv(t)
	cfg := processConfig(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, &logs) }()

	// `health` as compose runs it: same environment, separate invocation.
	deadline := time.Now().Add(60 * time.Second)
	for Health(t.Context(), processConfig(t)) != nil {
		select {
		case err := <-done:
			t.Fatalf("gateway stopped before it was healthy: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not healthy within 60s:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A webhook through the real ingest path.
	req, _ := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/hooks/hasura", strings.NewReader(`{"id":"6e0c2a4e-1b5f-4f3e-9d57-1f7f0d1a2b3c","table":{"schema":"public","name":"users"},"trigger":{"name":"t"},"event":{"op":"INSERT","data":{"old":null,"new":{"id":1}},"session_variables":null,"trace_context":null},"delivery_info":{"current_retry":0,"max_retries":0},"created_at":"2026-01-01T00:00:00.000001"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hasura-Webhook-Secret", "test-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("webhook: status %d, want 200", resp.StatusCode)
	}

	// HOOKMESH_GRPC_ADDR serves the gateway's gRPC API.
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	hctx, hcancel := context.WithTimeout(ctx, 10*time.Second)
	defer hcancel()
	hr, err := healthpb.NewHealthClient(conn).Check(hctx, &healthpb.HealthCheckRequest{})
	if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("gRPC health on HOOKMESH_GRPC_ADDR: %v, %v; want SERVING", hr.GetStatus(), err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after SIGTERM-like stop: %v, want nil\n%s", err, logs.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("gateway did not stop within 60s")
	}
	if strings.Contains(logs.String(), "test-secret") {
		t.Error("the logs contain a secret")
	}
}

func TestRunErrors(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want string // in Run's error
	}{
		{"grpc address refused", map[string]string{"HOOKMESH_GRPC_ADDR": "127.0.0.1:99999"}, "HOOKMESH_GRPC_ADDR"},
		{"public grpc address without token", map[string]string{"HOOKMESH_GRPC_ADDR": "0.0.0.0:0"}, "HOOKMESH_ADMIN_TOKEN"},
		{"config file missing", map[string]string{"HOOKMESH_CONFIG": "/nonexistent/hookmesh.yaml"}, "read config"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gatewayEnv(t)
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			var logs syncBuffer
			if err := run(t.Context(), processConfig(t), &logs); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Run: %v, want an error containing %q\n%s", err, c.want, logs.String())
			}
		})
	}
	t.Run("token and token file both set", func(t *testing.T) {
		gatewayEnv(t)
		t.Setenv("HOOKMESH_ADMIN_TOKEN", "a")
		t.Setenv("HOOKMESH_ADMIN_TOKEN_FILE", "/nonexistent")
		var cfg ProcessConfig
		if err := envconfig.Load(&cfg); err == nil {
			t.Error("config loaded with both HOOKMESH_ADMIN_TOKEN and HOOKMESH_ADMIN_TOKEN_FILE set")
		}
	})
	t.Run("health with nothing serving", func(t *testing.T) {
		gatewayEnv(t)
		if err := Health(t.Context(), processConfig(t)); err == nil {
			t.Error("healthy with nothing serving")
		}
	})
}

// The gRPC listener is released when the gateway cannot be built, so a restart
// (compose's restart policy) can bind the same port again.
func TestServeReleasesGRPCListenerOnError(t *testing.T) {
	_, grpcAddr := gatewayEnv(t)
	t.Setenv("HOOKMESH_CONFIG", "/nonexistent/hookmesh.yaml")
	if err := run(t.Context(), processConfig(t), io.Discard); err == nil {
		t.Fatal("Run succeeded without a config file")
	}
	l, err := net.Listen("tcp", grpcAddr)
	if err != nil {
		t.Fatalf("HOOKMESH_GRPC_ADDR still held after a failed start: %v", err)
	}
	_ = l.Close()
}

// syncBuffer is a bytes.Buffer the gateway's goroutines may log into while the
// test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
