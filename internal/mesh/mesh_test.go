package mesh

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"

	"github.com/hookmesh/hookmesh/platform/eventually"
	"github.com/hookmesh/hookmesh/platform/logging"
)

type running struct {
	t      testing.TB
	base   string
	token  string // HOOKMESH_ADMIN_TOKEN, sent by get
	spans  *tracetest.InMemoryExporter
	logs   *logging.Capture // every component's JSON log lines
	mesh   *Mesh
	cancel context.CancelFunc
	done   chan error

	dataDir string
}

// startMesh runs the all-in-one mesh in this process on a fresh data dir.
func startMesh(t *testing.T) *running {
	t.Helper()
	return startMeshWith(t, nil)
}

// startMeshWith is startMesh with edits to the Options (e.g. no SpanExporter,
// to export through the OTEL_* environment instead).
func startMeshWith(t testing.TB, edit func(*Options)) *running {
	t.Helper()
	if testing.Short() {
		t.Skip("short mode: skipping a whole-mesh test")
	}
	for _, s := range DemoSecrets {
		t.Setenv(s.Env, "")
		_ = os.Unsetenv(s.Env)
	}
	dataDir := filepath.Join(t.TempDir(), "data") // created by the mesh (its mode is tested)
	t.Setenv("HOOKMESH_DATA_DIR", dataDir)
	// Tests run side by side: not the fixed default port.
	t.Setenv("HOOKMESH_GRPC_ADDR", "127.0.0.1:0")
	cfg, err := LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &running{t: t, dataDir: dataDir, base: "http://" + lis.Addr().String(), token: cfg.Gateway.AdminToken, spans: tracetest.NewInMemoryExporter(), logs: &logging.Capture{}, done: make(chan error, 1)}
	ready := make(chan *Mesh, 1)
	ctx, cancel := context.WithCancel(t.Context())
	r.cancel = cancel
	var banner bytes.Buffer
	var logOut io.Writer = r.logs
	if os.Getenv("HOOKMESH_TEST_LOG") != "" {
		logOut = io.MultiWriter(r.logs, os.Stderr)
	}
	opts := Options{SpanExporter: r.spans, HTTPListener: lis, Ready: func(m *Mesh) { ready <- m }, LogOutput: logOut}
	if edit != nil {
		edit(&opts)
	}
	go func() {
		r.done <- RunWith(ctx, cfg, &banner, opts)
	}()
	select {
	case r.mesh = <-ready:
	case err := <-r.done:
		t.Fatalf("mesh stopped before serving: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("mesh did not start within 60s")
	}
	t.Cleanup(func() { r.stop() })
	for _, want := range []string{"/hooks/", "/v1/events", "HASURA_WEBHOOK_SECRET", "gRPC API      " + r.mesh.Gateway.GRPCAddr()} {
		if !strings.Contains(banner.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, banner.String())
		}
	}
	return r
}

func (r *running) stop() {
	if r.cancel == nil {
		return
	}
	// A connection the client dialled but never used counts as active for 5s
	// in http.Server.Shutdown: close the idle ones (the test's and the
	// fulfillment sender's, both on the default transport) first.
	http.DefaultClient.CloseIdleConnections()
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("mesh stopped with %v", err)
		}
	case <-time.After(60 * time.Second):
		r.t.Error("mesh did not stop within 60s")
	}
}

func (r *running) hasura(t *testing.T, body string, header http.Header) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.base+"/hooks/hasura", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hasura-Webhook-Secret", os.Getenv("HASURA_WEBHOOK_SECRET"))
	for k, v := range header {
		req.Header[k] = v
	}
	status, out := do(t, req)
	if status != http.StatusOK {
		t.Fatalf("POST /hooks/hasura: %d %v", status, out)
	}
	return out
}

func (r *running) get(t *testing.T, path string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.base+path, nil)
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	return do(t, req)
}

// until polls fn until it returns "" (what is still missing) or the liveness
// deadline passes.
func until(t *testing.T, what string, fn func() string) {
	t.Helper()
	eventually.NoError(t, 45*time.Second, what, func() error {
		if missing := fn(); missing != "" {
			return errors.New(missing)
		}
		return nil
	})
}

func do(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: %d %q is not JSON", req.Method, req.URL.Path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, out
}

func tableEvent(id, table, op string, oldRow, newRow string) string {
	return fmt.Sprintf(`{"id":%q,"created_at":"2026-11-26T10:00:00.123456","table":{"schema":"public","name":%q},
"trigger":{"name":"%s_all"},"delivery_info":{"current_retry":0,"max_retries":3},
"event":{"op":%q,"session_variables":{"x-hasura-role":"admin"},"trace_context":null,"data":{"old":%s,"new":%s}}}`,
		id, table, table, op, oldRow, newRow)
}

// deliveryStates maps subscription → state name of GET /v1/events/{id}.
func (r *running) deliveryStates(t *testing.T, id string) map[string]string {
	status, body := r.get(t, "/v1/events/"+id)
	if status != http.StatusOK {
		return nil
	}
	states := map[string]string{}
	ds, _ := body["deliveries"].([]any)
	for _, d := range ds {
		m, _ := d.(map[string]any)
		states[fmt.Sprint(m["subscription"])] = fmt.Sprint(m["state"])
	}
	return states
}

func (r *running) messages(t *testing.T, query string) []map[string]any {
	status, body := r.get(t, "/v1/email/messages?"+query)
	if status != http.StatusOK {
		t.Fatalf("GET /v1/email/messages: %d %v", status, body)
	}
	var out []map[string]any
	ms, _ := body["messages"].([]any)
	for _, m := range ms {
		out = append(out, m.(map[string]any))
	}
	return out
}

// One Hasura webhook reaches every subscribed service, once, in one trace that
// continues the sender's B3 context across gateway → log → email and analytics.
func TestMeshUserInsertReachesEmailAndAnalyticsInOneTrace(t *testing.T) {
	r := startMesh(t)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	id := "0d3c6f4e-7f0e-4c55-9f43-6e1d6e3b9a01"
	body := tableEvent(id, "users", "INSERT", "null", `{"id":42,"email":"ada@example.com","name":"Ada","registration_method":"github"}`)
	b3 := http.Header{"X-B3-Traceid": {traceID}, "X-B3-Spanid": {"00f067aa0ba902b7"}, "X-B3-Sampled": {"1"}}
	if got := r.hasura(t, body, b3); got["status"] != "accepted" || got["event_id"] != id {
		t.Fatalf("first send: %v", got)
	}
	if got := r.hasura(t, body, b3); got["status"] != "duplicate" {
		t.Fatalf("second send: %v", got)
	}

	until(t, "deliveries", func() string {
		s := r.deliveryStates(t, id)
		if s["email"] != "DELIVERY_STATE_DELIVERED" || s["analytics"] != "DELIVERY_STATE_DELIVERED" {
			return fmt.Sprint(s)
		}
		if _, routed := s["orders"]; routed {
			return "routed to orders too: " + fmt.Sprint(s)
		}
		return ""
	})
	msgs := r.messages(t, "event_id="+id)
	if len(msgs) != 1 {
		t.Fatalf("welcome emails for the event: %d, want 1: %v", len(msgs), msgs)
	}
	if to := fmt.Sprint(msgs[0]["to"]); !strings.Contains(to, "ada@example.com") {
		t.Errorf("welcome email to %s", to)
	}
	until(t, "user_registered counted", func() string {
		status, body := r.get(t, "/v1/analytics/counts?type=user_registered&since=2026-11-01T00:00:00Z&until=2026-12-31T00:00:00Z&granularity=GRANULARITY_DAY")
		if status != http.StatusOK {
			return fmt.Sprintf("%d %v", status, body)
		}
		if !strings.Contains(fmt.Sprint(body), "count:1") {
			return fmt.Sprint(body)
		}
		return ""
	})

	// Every component's spans for this event carry the sender's trace id.
	until(t, "spans of every component in the sender's trace", func() string {
		seen := map[string]bool{}
		for _, s := range r.spans.GetSpans() {
			if s.SpanContext.TraceID().String() != traceID {
				continue
			}
			for _, kv := range s.Resource.Attributes() {
				if kv.Key == semconv.ServiceNameKey {
					seen[kv.Value.AsString()] = true
				}
			}
		}
		for _, c := range []string{"gateway", "email", "analytics"} {
			if !seen[c] {
				return fmt.Sprintf("no %s span (seen %v)", c, seen)
			}
		}
		return ""
	})
}

// An order's transition to completed decrements stock, creates one shipment, and
// the follow-up event orders.shipment.created reaches email as a confirmation:
// orders publishes it through the gateway's PublisherService, which requires the
// admin token when there is one.
func TestMeshOrderCompletionChoreography(t *testing.T) {
	for _, token := range []string{"", "mesh-admin-token"} {
		t.Run("token="+token, func(t *testing.T) {
			t.Setenv("HOOKMESH_ADMIN_TOKEN", token)
			t.Setenv("HOOKMESH_ADMIN_TOKEN_FILE", "")
			r := startMesh(t)
			if token != "" {
				req, _ := http.NewRequest(http.MethodGet, r.base+"/v1/events", nil)
				if status, _ := do(t, req); status != http.StatusUnauthorized {
					t.Fatalf("REST without the token: %d, want 401", status)
				}
			}
			orderCompletionChoreography(t, r)
		})
	}
}

func orderCompletionChoreography(t *testing.T, r *running) {
	r.hasura(t, tableEvent("inv-1", "inventory", "INSERT", "null", `{"sku":"MESH-1","name":"Mesh mug","quantity":5}`), nil)
	r.hasura(t, tableEvent("usr-7", "users", "INSERT", "null", `{"id":7,"email":"grace@example.com","name":"Grace"}`), nil)
	// Events carry no ordering guarantee (as with Hasura): wait for the stock and
	// the user before completing the order.
	for id, sub := range map[string]string{"inv-1": "orders", "usr-7": "email"} {
		until(t, id+" handled", func() string {
			if s := r.deliveryStates(t, id); s[sub] != "DELIVERY_STATE_DELIVERED" {
				return fmt.Sprint(s)
			}
			return ""
		})
	}
	order := `{"id":9001,"customer_id":7,"status":"%s","items":[{"sku":"MESH-1","quantity":2,"price":12.5}],"total":25}`
	r.hasura(t, tableEvent("ord-1", "orders", "INSERT", "null", fmt.Sprintf(order, "pending")), nil)
	r.hasura(t, tableEvent("ord-2", "orders", "UPDATE", fmt.Sprintf(order, "pending"), fmt.Sprintf(order, "completed")), nil)
	// A later update of the completed order changes nothing.
	r.hasura(t, tableEvent("ord-3", "orders", "UPDATE", fmt.Sprintf(order, "completed"), fmt.Sprintf(order, "completed")), nil)

	until(t, "shipment", func() string {
		status, body := r.get(t, "/v1/orders/shipments")
		if status != http.StatusOK {
			return fmt.Sprintf("%d %v", status, body)
		}
		if n := len(asList(body["shipments"])); n != 1 {
			return fmt.Sprintf("%d shipments", n)
		}
		return ""
	})
	until(t, "order confirmation email", func() string {
		for _, m := range r.messages(t, "") {
			if m["event_type"] == "orders.shipment.created" {
				return ""
			}
		}
		return "none yet"
	})
	until(t, "ord-3 handled", func() string {
		if s := r.deliveryStates(t, "ord-3"); s["orders"] != "DELIVERY_STATE_DELIVERED" {
			return fmt.Sprint(s)
		}
		return ""
	})
	status, body := r.get(t, "/v1/orders/shipments")
	if status != http.StatusOK || len(asList(body["shipments"])) != 1 {
		t.Fatalf("after the second update: %d %v", status, body)
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
