package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookmesh/hookmesh/gateway/gatewaytest"
	"github.com/hookmesh/hookmesh/gateway/internal/config"
	"github.com/hookmesh/hookmesh/platform/envconfig"
)

const testSecret = "gateway-test-secret"

const testConfig = `sources:
  - name: hasura
    kind: hasura
    secrets_from_env: [HASURA_WEBHOOK_SECRET]
  - name: ops
    kind: hasura
    header: X-Ops-Secret
    secrets_from_env: [OPS_SECRET]
`

func testLogger() *slog.Logger {
	if os.Getenv("HOOKMESH_TEST_LOG") != "" {
		return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func secrets(name string) (string, bool, error) {
	switch name {
	case "HASURA_WEBHOOK_SECRET", "OPS_SECRET":
		return testSecret, true, nil
	}
	return "", false, nil
}

func testFile(t testing.TB) *config.File {
	t.Helper()
	f, err := config.Parse([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// start runs a gateway on loopback port 0 until the test ends and waits until ready.
func start(t *testing.T, cfg Config, deps Deps) *Gateway {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:0"
	}
	if deps.File == nil {
		deps.File = testFile(t)
	}
	if deps.Secrets == nil {
		deps.Secrets = secrets
	}
	if deps.Logger == nil {
		deps.Logger = testLogger()
	}
	ctx, cancel := context.WithCancel(t.Context())
	g, err := New(ctx, cfg, deps)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	gatewaytest.Run(t, g)
	return g
}

func hook(t *testing.T, addr, source, id, typ string) map[string]any {
	t.Helper()
	table := strings.SplitN(typ, ".", 2)
	body := `{"id":"` + id + `","table":{"schema":"public","name":"` + table[0] + `"},"trigger":{"name":"t"},` +
		`"event":{"op":"` + strings.ToUpper(table[1]) + `","data":{"old":null,"new":{"id":1}},"session_variables":null,"trace_context":null},` +
		`"created_at":"2024-05-01T09:30:00"}`
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/hooks/"+source, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hasura-Webhook-Secret", testSecret)
	req.Header.Set("X-Ops-Secret", testSecret)
	status, out := call(t, req)
	if status != http.StatusOK {
		t.Fatalf("hook %s/%s: %d %v", source, id, status, out)
	}
	return out
}

func call(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: not JSON (%d): %q", req.Method, req.URL, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

func get(t *testing.T, u, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return call(t, req)
}

func TestRESTEvents(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := start(t, Config{}, Deps{Registry: reg})
	addr := g.HTTPAddr()
	for i := range 5 {
		hook(t, addr, "hasura", fmt.Sprintf("u-%d", i), "users.insert")
	}
	hook(t, addr, "hasura", "o-1", "orders.update")
	hook(t, addr, "ops", "x-1", "jobs.insert")
	base := "http://" + addr + "/v1/events"

	t.Run("pagination", func(t *testing.T) {
		var ids []string
		next := ""
		for pages := 0; pages < 10; pages++ {
			q := url.Values{"page_size": {"3"}}
			if next != "" {
				q.Set("page_token", next)
			}
			status, body := get(t, base+"?"+q.Encode(), "")
			if status != http.StatusOK {
				t.Fatalf("%d %v", status, body)
			}
			events, _ := body["events"].([]any)
			if len(events) > 3 {
				t.Fatalf("page of %d", len(events))
			}
			for _, e := range events {
				ids = append(ids, e.(map[string]any)["id"].(string))
			}
			next, _ = body["next_page_token"].(string)
			if next == "" {
				break
			}
		}
		if got := strings.Join(ids, ","); got != "x-1,o-1,u-4,u-3,u-2,u-1,u-0" {
			t.Fatalf("ids %s", got)
		}
	})
	filters := []struct {
		name  string
		query url.Values
		want  int
	}{
		{"source", url.Values{"source": {"ops"}}, 1},
		{"type glob", url.Values{"type": {"hasura.public.users.*"}}, 5},
		{"source and type", url.Values{"source": {"hasura"}, "type": {"*.update"}}, 1},
		{"since the future", url.Values{"since": {time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}}, 0},
		{"until the past", url.Values{"until": {time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}}, 0},
		{"around now", url.Values{"since": {time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}, "until": {time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}}, 7},
	}
	for _, tc := range filters {
		t.Run(tc.name, func(t *testing.T) {
			status, body := get(t, base+"?"+tc.query.Encode(), "")
			events, _ := body["events"].([]any)
			if status != http.StatusOK || len(events) != tc.want {
				t.Fatalf("%d: %d events, want %d (%v)", status, len(events), tc.want, body)
			}
		})
	}
	t.Run("one event", func(t *testing.T) {
		status, body := getEventually(t, base+"/o-1", "")
		ev, _ := body["event"].(map[string]any)
		if status != http.StatusOK || ev["type"] != "hasura.public.orders.update" || ev["subject"] != "public.orders/1" {
			t.Fatalf("%d %v", status, body)
		}
		if _, ok := ev["hasura_table"]; !ok {
			t.Fatalf("typed payload missing: %v", ev)
		}
	})
	errorsTable := []struct {
		name, url string
		status    int
		code      string
	}{
		{"unknown event", base + "/nope", 404, "not_found"},
		{"unknown event of a source", base + "/u-1?source=ops", 404, "not_found"},
		{"bad page token", base + "?page_token=%25%25bad", 400, "invalid_argument"},
		{"negative page size", base + "?page_size=-1", 400, "invalid_argument"},
		{"bad since", base + "?since=yesterday", 400, "invalid_argument"},
		{"deliveries without a dispatcher", "http://" + addr + "/v1/deadletters", 501, "unimplemented"},
	}
	for _, tc := range errorsTable {
		t.Run(tc.name, func(t *testing.T) {
			status, body := get(t, tc.url, "")
			e, _ := body["error"].(map[string]any)
			if status != tc.status || e["code"] != tc.code || e["message"] == "" || len(body) != 1 {
				t.Fatalf("got %d %v, want %d %s", status, body, tc.status, tc.code)
			}
		})
	}
	t.Run("unknown hook paths answer JSON", func(t *testing.T) {
		for _, p := range []string{"/hooks/nope", "/hooks/hasura/extra", "/hooks/"} {
			req, _ := http.NewRequest(http.MethodPost, "http://"+addr+p, strings.NewReader(`{}`))
			status, body := call(t, req)
			if e, _ := body["error"].(map[string]any); status != http.StatusNotFound || e["code"] != "unknown_source" {
				t.Errorf("%s: %d %v", p, status, body)
			}
		}
	})
	t.Run("metrics", func(t *testing.T) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		raw, _ := io.ReadAll(resp.Body)
		if !bytes.Contains(raw, []byte(`hookmesh_ingest_requests_total{outcome="accepted",source="hasura"} 6`)) {
			t.Fatalf("metrics:\n%s", raw)
		}
	})
}

func TestAdminListenerAndToken(t *testing.T) {
	const token = "s3cret-token"
	g := start(t, Config{AdminAddr: "127.0.0.1:0", AdminToken: token}, Deps{})
	hook(t, g.HTTPAddr(), "hasura", "a-1", "users.insert")
	admin := "http://" + g.AdminAddr()
	if g.AdminAddr() == g.HTTPAddr() {
		t.Fatal("admin listener not separate")
	}
	if status, body := get(t, admin+"/v1/events/a-1", ""); status != http.StatusUnauthorized || body["error"].(map[string]any)["code"] != "unauthenticated" {
		t.Fatalf("without token: %d %v", status, body)
	}
	if status, _ := get(t, admin+"/v1/events/a-1", "wrong"); status != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", status)
	}
	getEventually(t, admin+"/v1/events/a-1", token)
	// The webhook listener does not serve the REST API when an admin listener is set.
	resp, err := http.Get("http://" + g.HTTPAddr() + "/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("REST on the webhook listener: %d", resp.StatusCode)
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		deps Deps
		want string
	}{
		{"public REST without token", Config{HTTPAddr: "0.0.0.0:0"}, Deps{}, "HOOKMESH_ADMIN_TOKEN"},
		{"public admin listener without token", Config{HTTPAddr: "127.0.0.1:0", AdminAddr: "0.0.0.0:0"}, Deps{}, "HOOKMESH_ADMIN_TOKEN"},
		{"missing secret", Config{HTTPAddr: "127.0.0.1:0"}, Deps{Secrets: func(string) (string, bool, error) { return "", false, nil }}, "no secret set"},
		{"bad config file", Config{HTTPAddr: "127.0.0.1:0", ConfigFile: "/nonexistent/hookmesh.yaml"}, Deps{File: nil}, "read config"},
		{"address in use", Config{HTTPAddr: "256.0.0.1:1"}, Deps{}, "listen on"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.DataDir = t.TempDir()
			deps := tc.deps
			if deps.Secrets == nil {
				deps.Secrets = secrets
			}
			if tc.name != "bad config file" {
				deps.File = testFile(t)
			}
			g, err := New(t.Context(), cfg, deps)
			if err == nil {
				g.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
	// With a token a public listener is allowed.
	g, err := New(t.Context(), Config{HTTPAddr: "0.0.0.0:0", AdminToken: "a-long-enough-token", DataDir: t.TempDir()}, Deps{File: testFile(t), Secrets: secrets})
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
}

// stubDispatcher records the shutdown order against the log's state.
type stubDispatcher struct {
	started, stopped bool
	logOpenAtStop    bool
	g                **Gateway
}

func (d *stubDispatcher) Start(context.Context) error { d.started = true; return nil }
func (d *stubDispatcher) Stop(ctx context.Context) error {
	d.stopped = true
	d.logOpenAtStop = (*d.g).Log().Ready(ctx) == nil
	return nil
}

func TestShutdownOrder(t *testing.T) {
	var g *Gateway
	d := &stubDispatcher{g: &g}
	ctx, cancel := context.WithCancel(t.Context())
	var err error
	g, err = New(ctx, Config{HTTPAddr: "127.0.0.1:0", DataDir: t.TempDir()}, Deps{File: testFile(t), Secrets: secrets, NoDispatcher: true})
	if err != nil {
		t.Fatal(err)
	}
	g.disp = d // Run drives whatever dispatcher New built
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for g.Log().Ready(t.Context()) != nil {
		if time.Now().After(deadline) {
			t.Fatal("not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if !d.started || !d.stopped || !d.logOpenAtStop {
		t.Fatalf("dispatcher %+v: want started, stopped while the log was still open", d)
	}
	if resp, err := http.Get("http://" + g.HTTPAddr() + "/healthz"); err == nil {
		_ = resp.Body.Close()
		t.Fatal("HTTP still served after Run returned")
	}
}

// getEventually retries a GET that answers 404 for a moment: eventlog.Get can miss an
// event while its index entry is being written (reported to the eventlog owner).
func getEventually(t *testing.T, u, token string) (int, map[string]any) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, body := get(t, u, token)
		if status != http.StatusNotFound || time.Now().After(deadline) {
			if status != http.StatusOK {
				t.Fatalf("GET %s: %d %v", u, status, body)
			}
			return status, body
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("HOOKMESH_HTTP_ADDR", "")
	t.Setenv("HOOKMESH_ADMIN_ADDR", "127.0.0.1:9999")
	dir := t.TempDir()
	tokenFile := dir + "/token"
	if err := os.WriteFile(tokenFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOOKMESH_ADMIN_TOKEN_FILE", tokenFile)
	var cfg Config
	if err := envconfig.Load(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != "127.0.0.1:8090" || cfg.DataDir != envconfig.DefaultDataDir || cfg.AdminAddr != "127.0.0.1:9999" ||
		cfg.AdminToken != "from-file" || cfg.ConfigFile != "" || cfg.NATSURL != "" {
		t.Fatalf("config %+v", cfg)
	}
	names := strings.Join(envconfig.Names(&cfg), ",")
	for _, n := range []string{"HOOKMESH_DATA_DIR", "HOOKMESH_HTTP_ADDR", "HOOKMESH_ADMIN_ADDR", "HOOKMESH_NATS_URL", "HOOKMESH_ADMIN_TOKEN", "HOOKMESH_CONFIG"} {
		if !strings.Contains(names, n) {
			t.Errorf("%s missing from %s", n, names)
		}
	}
}

// The built-in demo config wires every source kind.
func TestDemoConfigStarts(t *testing.T) {
	demoSecrets := func(name string) (string, bool, error) {
		if strings.HasSuffix(name, "_PREVIOUS") {
			return "", false, nil
		}
		if name == "STANDARD_WEBHOOK_SECRET" {
			return "whsec_" + base64.StdEncoding.EncodeToString([]byte("standard-demo-key")), true, nil
		}
		return "demo-" + name, true, nil
	}
	g := start(t, Config{}, Deps{File: mustDemo(t), Secrets: demoSecrets, NoDispatcher: true})
	for _, source := range []string{"hasura", "stripe", "github", "shopify", "slack", "standard"} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+g.HTTPAddr()+"/hooks/"+source, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		status, body := call(t, req)
		if status != http.StatusUnauthorized {
			t.Errorf("%s without credentials: %d %v", source, status, body)
		}
	}
}

func mustDemo(t *testing.T) *config.File {
	t.Helper()
	f, err := config.Demo()
	if err != nil {
		t.Fatal(err)
	}
	return f
}
