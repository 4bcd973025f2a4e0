package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

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
			err := health(context.Background(), c.addr)
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

func TestServeAndHealth(t *testing.T) {
	httpAddr, grpcAddr := gatewayEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, nil, &logs) }()

	// `health` as compose runs it: same environment, separate invocation.
	deadline := time.Now().Add(60 * time.Second)
	for run(context.Background(), []string{"health"}, &bytes.Buffer{}) != 0 {
		select {
		case code := <-done:
			t.Fatalf("gateway exited with %d before it was healthy:\n%s", code, logs.String())
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
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("webhook: status %d, want 200", resp.StatusCode)
	}

	// HOOKMESH_GRPC_ADDR serves the gateway's gRPC API.
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hctx, hcancel := context.WithTimeout(ctx, 10*time.Second)
	defer hcancel()
	hr, err := healthpb.NewHealthClient(conn).Check(hctx, &healthpb.HealthCheckRequest{})
	if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("gRPC health on HOOKMESH_GRPC_ADDR: %v, %v; want SERVING", hr.GetStatus(), err)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code after SIGTERM-like stop: %d, want 0\n%s", code, logs.String())
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
		args []string
		want int
	}{
		{"unknown command", nil, []string{"frobnicate"}, 2},
		{"token and token file both set", map[string]string{"HOOKMESH_ADMIN_TOKEN": "a", "HOOKMESH_ADMIN_TOKEN_FILE": "/nonexistent"}, nil, 2},
		{"grpc address refused", map[string]string{"HOOKMESH_GRPC_ADDR": "127.0.0.1:99999"}, nil, 1},
		{"public grpc address without token", map[string]string{"HOOKMESH_GRPC_ADDR": "0.0.0.0:0"}, nil, 1},
		{"config file missing", map[string]string{"HOOKMESH_CONFIG": "/nonexistent/hookmesh.yaml"}, nil, 1},
		{"health with nothing serving", nil, []string{"health"}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gatewayEnv(t)
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			var logs bytes.Buffer
			if got := run(context.Background(), c.args, &logs); got != c.want {
				t.Errorf("exit code %d, want %d\n%s", got, c.want, logs.String())
			}
		})
	}
}

// The gRPC listener is released when the gateway cannot be built, so a restart
// (compose's restart policy) can bind the same port again.
func TestServeReleasesGRPCListenerOnError(t *testing.T) {
	_, grpcAddr := gatewayEnv(t)
	t.Setenv("HOOKMESH_CONFIG", "/nonexistent/hookmesh.yaml")
	if got := run(context.Background(), nil, &bytes.Buffer{}); got != 1 {
		t.Fatalf("exit code %d, want 1", got)
	}
	l, err := net.Listen("tcp", grpcAddr)
	if err != nil {
		t.Fatalf("HOOKMESH_GRPC_ADDR still held after a failed start: %v", err)
	}
	_ = l.Close()
}
