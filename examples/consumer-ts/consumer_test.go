// Package consumerts tests the TypeScript consumer example: the shared conformance
// suite over real gRPC from Go to Node, and a real gateway delivering a Hasura
// webhook to it, retrying when it answers UNAVAILABLE.
package consumerts

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/hookmesh/hookmesh/gateway"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/consumertest"
)

func dir(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test file")
	}
	return filepath.Dir(file)
}

var (
	buildOnce sync.Once
	buildErr  error
	nodeBin   string
)

// build installs the pinned packages when node_modules is missing (npm ci, from
// package-lock.json) and compiles the TypeScript with the pinned tsc into dist/.
func build(t testing.TB) string {
	t.Helper()
	node, nerr := exec.LookPath("node")
	npm, merr := exec.LookPath("npm")
	if nerr != nil || merr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node and npm are required under CI=true (examples/consumer-ts)")
		}
		t.Skip("node or npm is not installed: skipping the TypeScript consumer")
	}
	d := dir(t)
	buildOnce.Do(func() {
		nodeBin = node
		run := func(name string, args ...string) error {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, name, args...)
			cmd.Dir = d
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
			}
			return nil
		}
		if _, err := os.Stat(filepath.Join(d, "node_modules", ".bin", "tsc")); err != nil {
			if buildErr = run(npm, "ci", "--no-audit", "--no-fund"); buildErr != nil {
				return
			}
		}
		buildErr = run(filepath.Join(d, "node_modules", ".bin", "tsc"), "-p", ".")
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return nodeBin
}

// consumer is a running TypeScript consumer process.
type consumer struct {
	addr      string
	processed string // PROCESSED_FILE
	mu        sync.Mutex
	lines     []map[string]any // stdout, one JSON object per line
	changed   chan struct{}
	exited    chan error
}

// start runs dist/server.js with the given extra environment and waits until it
// listens (the "listening" line).
func start(t *testing.T, env ...string) *consumer {
	t.Helper()
	node := build(t)
	c := &consumer{processed: filepath.Join(t.TempDir(), "processed.jsonl"), changed: make(chan struct{}, 1), exited: make(chan error, 1)}
	cmd := exec.Command(node, "dist/server.js")
	cmd.Dir = dir(t)
	cmd.Env = append(os.Environ(), append([]string{"LISTEN_ADDR=127.0.0.1:0", "PROCESSED_FILE=" + c.processed}, env...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				m = map[string]any{"msg": "unparsable line", "line": sc.Text()}
			}
			c.mu.Lock()
			c.lines = append(c.lines, m)
			c.mu.Unlock()
			select {
			case c.changed <- struct{}{}:
			default:
			}
		}
		c.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited: //nolint:errcheck // how it exits after SIGTERM is not this cleanup's concern
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("the consumer did not stop within 10s of SIGTERM")
		}
	})
	line := c.waitFor(t, "listening", func(m map[string]any) bool { return m["msg"] == "listening" })
	c.addr, _ = line["addr"].(string)
	return c
}

// waitFor returns the first stdout line that match accepts, waiting up to 60 s.
func (c *consumer) waitFor(t *testing.T, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		c.mu.Lock()
		for _, l := range c.lines {
			if match(l) {
				c.mu.Unlock()
				return l
			}
		}
		all := fmt.Sprint(c.lines)
		c.mu.Unlock()
		select {
		case <-c.changed:
		case err := <-c.exited:
			t.Fatalf("the consumer exited (%v) before %s; output: %s", err, what, all)
		case <-deadline:
			t.Fatalf("no %s within 60s; output: %s", what, all)
		}
	}
}

// effects counts the consumer's durable record of (source, id): its effect.
func (c *consumer) effects(t testing.TB, ev *eventv1.Event) int {
	t.Helper()
	b, err := os.ReadFile(c.processed)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		var p struct{ Source, ID string }
		if json.Unmarshal([]byte(line), &p) == nil && p.Source == ev.GetSource() && p.ID == ev.GetId() {
			n++
		}
	}
	return n
}

func (c *consumer) client(t *testing.T) consumerv1.EventConsumerServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return consumerv1.NewEventConsumerServiceClient(conn)
}

func userInsert(id string) *eventv1.Event {
	row, _ := structpb.NewStruct(map[string]any{"id": 7, "email": "ada@example.com", "name": "Ada"})
	return &eventv1.Event{
		Id: id, Source: "hasura", Type: "hasura.public.users.insert", Subject: "public.users/7",
		Payload: &eventv1.Event_HasuraTable{HasuraTable: &eventv1.HasuraTableEvent{
			Op: eventv1.HasuraOperation_HASURA_OPERATION_INSERT, Schema: "public", Table: "users", TriggerName: "hookmesh_users", New: row,
		}},
	}
}

// The TypeScript consumer passes the same conformance suite as the Go services.
func TestConformance(t *testing.T) {
	c := start(t)
	consumertest.Run(t, consumertest.Config{
		Client:   c.client(t),
		NewEvent: userInsert,
		// An event with no typed payload: nothing to apply, ever.
		Invalid: &eventv1.Event{Id: "no-payload", Source: "hasura", Type: "hasura.public.users.insert"},
		Effects: c.effects,
	})
}

// Bad settings stop the process at once with exit code 2 and a reason.
func TestStartErrors(t *testing.T) {
	node := build(t)
	cases := []struct{ name, env, want string }{
		{"listen address without a port", "LISTEN_ADDR=localhost", "LISTEN_ADDR must be host:port"},
		{"negative FAIL_FIRST_N", "FAIL_FIRST_N=-1", "FAIL_FIRST_N must be a non-negative integer"},
		{"FAIL_FIRST_N not a number", "FAIL_FIRST_N=twice", "FAIL_FIRST_N must be a non-negative integer"},
		{"processed file in a missing directory", "PROCESSED_FILE=/nonexistent/dir/processed.jsonl", "ENOENT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, "dist/server.js")
			cmd.Dir = dir(t)
			cmd.Env = append(os.Environ(), "LISTEN_ADDR=127.0.0.1:0", "PROCESSED_FILE="+filepath.Join(t.TempDir(), "p.jsonl"), tc.env)
			out, err := cmd.Output()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("exit: %v, want code 2; output: %s", err, out)
			}
			if !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), `"msg":"cannot start"`) {
				t.Errorf("output %s, want a cannot-start line with %q", out, tc.want)
			}
		})
	}
}

// A real gateway delivers a Hasura webhook to the TypeScript consumer; told to
// fail first (FAIL_FIRST_N=1), it answers UNAVAILABLE and the gateway retries: the
// second attempt is handled, and GET /v1/events/{id} shows both attempts.
func TestGatewayDeliversAndRetries(t *testing.T) {
	c := start(t, "FAIL_FIRST_N=1")
	const secret = "consumer-ts-test-secret"
	// The example's own config (hookmesh.yaml), its target moved to the free port.
	example, err := os.ReadFile(filepath.Join(dir(t), "hookmesh.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(example), "target: 127.0.0.1:9110") {
		t.Fatal("hookmesh.yaml no longer targets 127.0.0.1:9110, the consumer's default LISTEN_ADDR")
	}
	conf := filepath.Join(t.TempDir(), "hookmesh.yaml")
	if err := os.WriteFile(conf, []byte(strings.Replace(string(example), "target: 127.0.0.1:9110", "target: "+c.addr, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	gw, err := gateway.New(ctx, gateway.Config{DataDir: t.TempDir(), ConfigFile: conf}, gateway.Deps{
		HTTPListener: lis,
		Secrets: func(name string) (string, bool, error) {
			if name == "HASURA_WEBHOOK_SECRET" {
				return secret, true, nil
			}
			return "", false, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("gateway stopped with %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("gateway did not stop within 60s")
		}
	}()

	id := fmt.Sprintf("0c7d9e4a-3b2f-4c1d-8e6f-%012d", time.Now().UnixNano()%1e12)
	body := fmt.Sprintf(`{"id":%q,"table":{"schema":"public","name":"users"},"trigger":{"name":"hookmesh_users"},"event":{"op":"INSERT","data":{"old":null,"new":{"id":7,"email":"ada@example.com","name":"Ada","registration_method":"email"}},"session_variables":{"x-hasura-role":"admin"},"trace_context":null},"delivery_info":{"current_retry":0,"max_retries":3},"created_at":"2026-01-01T00:00:00.000001"}`, id)
	post := func() string {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+gw.HTTPAddr()+"/hooks/hasura", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hasura-Webhook-Secret", secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		var r struct{ Status string }
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &r) != nil {
			t.Fatalf("webhook: %d %s", resp.StatusCode, b)
		}
		return r.Status
	}
	if s := post(); s != "accepted" {
		t.Fatalf("webhook status %q, want accepted", s)
	}

	ofEvent := func(msg string) func(map[string]any) bool {
		return func(m map[string]any) bool { return m["msg"] == msg && m["event_id"] == id }
	}
	failed := c.waitFor(t, "the failed first attempt", ofEvent("failing on purpose"))
	handled := c.waitFor(t, "the handled retry", ofEvent("event handled"))
	if failed["attempt"] != float64(1) || handled["attempt"] != float64(2) {
		t.Errorf("attempts: failed %v, handled %v; want 1 and 2", failed["attempt"], handled["attempt"])
	}
	// The TypeScript side decoded the typed event.
	for k, want := range map[string]any{"type": "hasura.public.users.insert", "kind": "hasura_table", "op": "INSERT", "table": "public.users", "row_id": float64(7), "subscription": "ts-consumer", "source": "hasura"} {
		if handled[k] != want {
			t.Errorf("handled line %s = %v, want %v (%v)", k, handled[k], want, handled)
		}
	}
	if cols, _ := handled["columns"].([]any); fmt.Sprint(cols) != "[email id name registration_method]" {
		t.Errorf("handled line columns %v", handled["columns"])
	}
	if strings.Contains(fmt.Sprint(handled), "ada@example.com") {
		t.Error("the consumer logged a row value (personal data)")
	}

	// The gateway's record of the event: delivered on attempt 2 after UNAVAILABLE.
	var got struct {
		Deliveries []struct {
			Subscription string `json:"subscription"`
			State        string `json:"state"`
			Attempts     []struct {
				Number int    `json:"number"`
				Code   string `json:"code"`
			} `json:"attempts"`
		} `json:"deliveries"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + gw.AdminAddr() + "/v1/events/" + id + "?source=hasura")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /v1/events/%s: %d %s", id, resp.StatusCode, b)
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Deliveries) == 1 && got.Deliveries[0].State == "DELIVERY_STATE_DELIVERED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery not recorded as delivered within 30s: %s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	d := got.Deliveries[0]
	var attempts []string
	for _, a := range d.Attempts {
		attempts = append(attempts, fmt.Sprintf("%d:%s", a.Number, a.Code))
	}
	if d.Subscription != "ts-consumer" || strings.Join(attempts, ",") != "1:UNAVAILABLE,2:OK" {
		t.Errorf("delivery %s attempts %v, want ts-consumer with 1:UNAVAILABLE,2:OK", d.Subscription, attempts)
	}

	// Hasura's own retry of the same event: the gateway says duplicate, and the
	// consumer's record keeps one effect.
	if s := post(); s != "duplicate" {
		t.Errorf("resent webhook status %q, want duplicate", s)
	}
	if n := c.effects(t, &eventv1.Event{Source: "hasura", Id: id}); n != 1 {
		t.Errorf("effect recorded %d times, want 1", n)
	}
}
