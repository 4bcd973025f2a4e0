// Package consumerpython tests the Python consumer example: the shared conformance
// suite over real gRPC from Go to Python, and a real gateway delivering Hasura
// webhooks to it: retried on UNAVAILABLE, dead-lettered on INVALID_ARGUMENT,
// replayed with the replay flag, in the webhook's trace.
package consumerpython

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

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/hookmesh/hookmesh/gateway"
	"github.com/hookmesh/hookmesh/gateway/gatewaytest"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/consumertest"
	"github.com/hookmesh/hookmesh/platform/eventually"
)

func dir(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test file")
	}
	return filepath.Dir(file)
}

// python finds an interpreter that has grpcio (Debian's python3-grpcio; the
// python3 first on PATH may be another one, e.g. pyenv's).
func python(t testing.TB) string {
	t.Helper()
	for _, c := range []string{"python3", "/usr/bin/python3"} {
		p, err := exec.LookPath(c)
		if err != nil {
			continue
		}
		if exec.Command(p, "-c", "import grpc, google.protobuf").Run() == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("python3 with grpcio is required under CI=true (examples/consumer-python; apt-get install python3-grpcio python3-grpc-tools)")
	}
	t.Skip("no python3 with grpcio (apt-get install python3-grpcio python3-grpc-tools): skipping the Python consumer")
	return ""
}

// consumer is a running Python consumer process.
type consumer struct {
	addr      string
	processed string // PROCESSED_FILE
	mu        sync.Mutex
	lines     []map[string]any // stdout, one JSON object per line
	changed   chan struct{}
	exited    chan error
}

// start runs consumer.py with the given extra environment and waits until it
// listens (the "listening" line).
func start(t *testing.T, env ...string) *consumer {
	t.Helper()
	py := python(t)
	c := &consumer{processed: filepath.Join(t.TempDir(), "processed.jsonl"), changed: make(chan struct{}, 1), exited: make(chan error, 1)}
	cmd := exec.Command(py, "-u", "consumer.py")
	cmd.Dir = dir(t)
	cmd.Env = append(os.Environ(), append([]string{"LISTEN_ADDR=127.0.0.1:0", "PROCESSED_FILE=" + c.processed, "PYTHONDONTWRITEBYTECODE=1"}, env...)...)
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

// The Python consumer passes the same conformance suite as the Go services.
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
	py := python(t)
	cases := []struct{ name, env, want string }{
		{"listen address without a port", "LISTEN_ADDR=localhost", "LISTEN_ADDR must be host:port"},
		{"negative FAIL_FIRST_N", "FAIL_FIRST_N=-1", "FAIL_FIRST_N must be a non-negative integer"},
		{"FAIL_FIRST_N not a number", "FAIL_FIRST_N=twice", "FAIL_FIRST_N must be a non-negative integer"},
		{"processed file in a missing directory", "PROCESSED_FILE=/nonexistent/dir/processed.jsonl", "No such file or directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, py, "consumer.py")
			cmd.Dir = dir(t)
			cmd.Env = append(os.Environ(), "LISTEN_ADDR=127.0.0.1:0", "PROCESSED_FILE="+filepath.Join(t.TempDir(), "p.jsonl"), "PYTHONDONTWRITEBYTECODE=1", tc.env)
			out, err := cmd.Output()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("exit: %v, want code 2; output: %s", err, out)
			}
			if !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), `"msg": "cannot start"`) {
				t.Errorf("output %s, want a cannot-start line with %q", out, tc.want)
			}
		})
	}
}

// eventRecord is what GET /v1/events/{id} says about one event.
type eventRecord struct {
	Event struct {
		Traceparent string `json:"traceparent"`
	} `json:"event"`
	Deliveries []struct {
		Subscription string `json:"subscription"`
		State        string `json:"state"`
		Attempts     []struct {
			Number int    `json:"number"`
			Code   string `json:"code"`
		} `json:"attempts"`
	} `json:"deliveries"`
}

func (r eventRecord) attempts() string {
	var out []string
	for _, d := range r.Deliveries {
		for _, a := range d.Attempts {
			out = append(out, fmt.Sprintf("%d:%s", a.Number, a.Code))
		}
	}
	return strings.Join(out, ",")
}

// A real gateway delivers Hasura webhooks to the Python consumer (FAIL_FIRST_N=1):
// attempt 1 answered UNAVAILABLE is retried and attempt 2 handled, in the webhook's
// trace; a replay arrives flagged; a row the consumer can never apply is answered
// INVALID_ARGUMENT and dead-lettered after one attempt.
func TestGatewayDeliversRetriesDeadLettersReplays(t *testing.T) {
	c := start(t, "FAIL_FIRST_N=1")
	const secret = "consumer-python-test-secret"
	example, err := os.ReadFile(filepath.Join(dir(t), "hookmesh.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(example), "target: 127.0.0.1:9111") {
		t.Fatal("hookmesh.yaml no longer targets 127.0.0.1:9111, the consumer's default LISTEN_ADDR")
	}
	conf := filepath.Join(t.TempDir(), "hookmesh.yaml")
	if err := os.WriteFile(conf, []byte(strings.Replace(string(example), "target: 127.0.0.1:9111", "target: "+c.addr, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// A real tracer: events then carry a traceparent and deliveries send theirs.
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewInMemoryExporter()))
	defer func() { _ = tp.Shutdown(t.Context()) }()
	gw, err := gateway.New(ctx, gateway.Config{DataDir: t.TempDir(), ConfigFile: conf}, gateway.Deps{
		HTTPListener:   lis,
		TracerProvider: tp,
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
	base := gatewaytest.Run(t, gw)
	admin := "http://" + gw.AdminAddr()

	post := func(id, row string) string {
		body := fmt.Sprintf(`{"id":%q,"table":{"schema":"public","name":"users"},"trigger":{"name":"hookmesh_users"},"event":{"op":"INSERT","data":{"old":null,"new":%s},"session_variables":{"x-hasura-role":"admin"},"trace_context":null},"delivery_info":{"current_retry":0,"max_retries":3},"created_at":"2026-01-01T00:00:00.000001"}`, id, row)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/hooks/hasura", strings.NewReader(body))
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
	record := func(id string) eventRecord {
		resp, err := http.Get(admin + "/v1/events/" + id + "?source=hasura")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		var r eventRecord
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &r) != nil {
			t.Fatalf("GET /v1/events/%s: %d %s", id, resp.StatusCode, b)
		}
		return r
	}
	settled := func(id, state string) eventRecord {
		var r eventRecord
		eventually.True(t, 30*time.Second, id+" "+state, func() bool {
			r = record(id)
			return len(r.Deliveries) == 1 && r.Deliveries[0].State == state
		})
		return r
	}
	ofEvent := func(id, msg string) func(map[string]any) bool {
		return func(m map[string]any) bool { return m["msg"] == msg && m["event_id"] == id }
	}

	id := fmt.Sprintf("5a1d2c3b-4e5f-4a6b-8c7d-%012d", time.Now().UnixNano()%1e12)
	if s := post(id, `{"id":7,"email":"ada@example.com","name":"Ada","registration_method":"email"}`); s != "accepted" {
		t.Fatalf("webhook status %q, want accepted", s)
	}
	failed := c.waitFor(t, "the failed first attempt", ofEvent(id, "failing on purpose"))
	handled := c.waitFor(t, "the handled retry", ofEvent(id, "event handled"))
	if failed["attempt"] != float64(1) || handled["attempt"] != float64(2) {
		t.Errorf("attempts: failed %v, handled %v; want 1 and 2", failed["attempt"], handled["attempt"])
	}
	// The Python side decoded the typed event and unpacked the Struct row.
	for k, want := range map[string]any{"type": "hasura.public.users.insert", "kind": "hasura_table", "op": "INSERT", "table": "public.users",
		"row_id": float64(7), "subscription": "py-consumer", "source": "hasura", "replay": false} {
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
	r := settled(id, "DELIVERY_STATE_DELIVERED")
	if got := r.attempts(); got != "1:UNAVAILABLE,2:OK" {
		t.Errorf("attempts %s, want 1:UNAVAILABLE,2:OK", got)
	}
	// One trace: the consumer continues the trace stored with the event, under the
	// gateway's delivery span (not the stored span itself).
	stored := strings.Split(r.Event.Traceparent, "-")
	if len(stored) != 4 {
		t.Fatalf("stored traceparent %q", r.Event.Traceparent)
	}
	if handled["trace_id"] != stored[1] || handled["parent_span_id"] == stored[2] || handled["parent_span_id"] == nil {
		t.Errorf("consumer trace %v / parent %v, want trace %s under a delivery span (not %s)", handled["trace_id"], handled["parent_span_id"], stored[1], stored[2])
	}
	if tp, _ := handled["traceparent"].(string); !strings.HasPrefix(tp, "00-"+stored[1]+"-") {
		t.Errorf("consumer's own traceparent %q is not in trace %s", tp, stored[1])
	}

	// A replay arrives with the replay flag; applied before, it is done (ALREADY_EXISTS).
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, admin+"/v1/events/"+id+":replay", strings.NewReader(`{"source":"hasura"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("replay: %d %s", resp.StatusCode, b)
	}
	replayed := c.waitFor(t, "the replay", ofEvent(id, "event already processed"))
	if replayed["replay"] != true {
		t.Errorf("replayed delivery %v, want replay=true", replayed)
	}
	if n := c.effects(t, &eventv1.Event{Source: "hasura", Id: id}); n != 1 {
		t.Errorf("effect recorded %d times, want 1", n)
	}

	// A row without an id can never be applied: INVALID_ARGUMENT, dead at once.
	bad := id[:len(id)-1] + "x"
	if s := post(bad, `{"email":"grace@example.com"}`); s != "accepted" {
		t.Fatalf("webhook status %q, want accepted", s)
	}
	rejected := c.waitFor(t, "the rejected row", ofEvent(bad, "event rejected"))
	if rejected["code"] != "INVALID_ARGUMENT" || rejected["attempt"] != float64(1) {
		t.Errorf("rejected line %v", rejected)
	}
	if got := settled(bad, "DELIVERY_STATE_DEAD").attempts(); got != "1:INVALID_ARGUMENT" {
		t.Errorf("dead-lettered attempts %s, want 1:INVALID_ARGUMENT", got)
	}
	if n := c.effects(t, &eventv1.Event{Source: "hasura", Id: bad}); n != 0 {
		t.Errorf("rejected event has %d effects", n)
	}
}
