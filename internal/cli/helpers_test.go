package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/hookmesh/hookmesh/gateway"
	"github.com/hookmesh/hookmesh/gateway/gatewaytest"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	"github.com/hookmesh/hookmesh/internal/cli"
	"github.com/hookmesh/hookmesh/platform/eventually"
)

const adminToken = "cli-test-admin-token"

// The demo sources (gateway/internal/config/demo.yaml) and one subscription of
// every event to the test's own consumer, which dead-letters at the first refusal.
const configTemplate = `
sources:
  - {name: hasura, kind: hasura, header: X-Hasura-Webhook-Secret, secrets_from_env: [HASURA_WEBHOOK_SECRET, HASURA_WEBHOOK_SECRET_PREVIOUS]}
  - {name: stripe, kind: stripe, secrets_from_env: [STRIPE_WEBHOOK_SECRET, STRIPE_WEBHOOK_SECRET_PREVIOUS], tolerance: 5m}
  - {name: github, kind: github, secrets_from_env: [GITHUB_WEBHOOK_SECRET, GITHUB_WEBHOOK_SECRET_PREVIOUS]}
  - {name: shopify, kind: shopify, secrets_from_env: [SHOPIFY_WEBHOOK_SECRET, SHOPIFY_WEBHOOK_SECRET_PREVIOUS]}
  - {name: slack, kind: slack, secrets_from_env: [SLACK_SIGNING_SECRET, SLACK_SIGNING_SECRET_PREVIOUS], tolerance: 5m}
  - {name: standard, kind: standard_webhooks, secrets_from_env: [STANDARD_WEBHOOK_SECRET, STANDARD_WEBHOOK_SECRET_PREVIOUS], tolerance: 5m}
subscriptions:
  - name: sink
    target: SINK_ADDR
    events: ["*"]
    retry: {policy: fixed, num_retries: 0}
    timeout: 5s
`

// secretValues are the sources' secrets; the CLI finds them three ways (env, _FILE,
// the data dir), the gateway through its lookup.
var secretValues = map[string]string{
	"HASURA_WEBHOOK_SECRET":   "hasura-shared-secret-0123456789",
	"STRIPE_WEBHOOK_SECRET":   "whsec_stripe0123456789abcdef",
	"GITHUB_WEBHOOK_SECRET":   "It's a Secret to Everybody",
	"SHOPIFY_WEBHOOK_SECRET":  "shopify-client-secret-0123",
	"SLACK_SIGNING_SECRET":    "8f742231b10e8888abcd99yyyzzz85a5",
	"STANDARD_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
}

// sink is a real EventConsumerService over loopback gRPC that refuses (terminally)
// while failing is set.
type sink struct {
	consumerv1.UnimplementedEventConsumerServiceServer
	failing atomic.Bool
	mu      sync.Mutex
	applied map[string]int
}

func (s *sink) Deliver(_ context.Context, req *consumerv1.DeliverRequest) (*consumerv1.DeliverResponse, error) {
	if s.failing.Load() {
		return nil, status.Error(codes.FailedPrecondition, "sink refuses deliveries in this test")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := req.GetEvent().GetSource() + "/" + req.GetEvent().GetId()
	if s.applied[k] > 0 {
		return nil, status.Error(codes.AlreadyExists, "seen before")
	}
	s.applied[k]++
	return &consumerv1.DeliverResponse{}, nil
}

// count is how often the hasura event id was applied.
func (s *sink) count(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applied["hasura/"+id]
}

// env is a running gateway and what the CLI needs to reach it.
type env struct {
	url     string
	dataDir string // the CLI's: secrets/<NAME>
	sink    *sink
}

// startGateway runs gateway.New on loopback with the test config and sets up the
// CLI's environment: HASURA from the variable, STRIPE from _FILE, the rest from the
// data dir, as `hookmesh serve` leaves them.
func startGateway(t *testing.T) *env {
	t.Helper()
	for _, name := range []string{"HOOKMESH_ADDR", "HOOKMESH_ADMIN_TOKEN", "HOOKMESH_ADMIN_TOKEN_FILE", "HOOKMESH_DATA_DIR"} {
		t.Setenv(name, "")
	}
	dataDir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dataDir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, v := range secretValues {
		t.Setenv(name, "")
		t.Setenv(name+"_FILE", "")
		switch name {
		case "HASURA_WEBHOOK_SECRET":
			t.Setenv(name, v)
		case "STRIPE_WEBHOOK_SECRET":
			f := filepath.Join(t.TempDir(), "stripe")
			writeFile(t, f, v+"\n")
			t.Setenv(name+"_FILE", f)
		default:
			writeFile(t, filepath.Join(dataDir, "secrets", name), v+"\n")
		}
	}

	s := &sink{applied: map[string]int{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	consumerv1.RegisterEventConsumerServiceServer(srv, s)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	cfgPath := filepath.Join(t.TempDir(), "hookmesh.yaml")
	writeFile(t, cfgPath, strings.Replace(configTemplate, "SINK_ADDR", lis.Addr().String(), 1))
	httpLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	g, err := gateway.New(ctx, gateway.Config{DataDir: t.TempDir(), ConfigFile: cfgPath, AdminToken: adminToken}, gateway.Deps{
		Logger:       slog.New(slog.DiscardHandler),
		HTTPListener: httpLis,
		Secrets: func(name string) (string, bool, error) {
			v, ok := secretValues[name]
			return v, ok, nil
		},
	})
	if err != nil {
		cancel()
		t.Fatalf("gateway.New: %v", err)
	}
	t.Cleanup(cancel)
	base := gatewaytest.Run(t, g)
	return &env{url: base, dataDir: dataDir, sink: s}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// result is one CLI run.
type result struct {
	code           int
	stdout, stderr string
}

func run(args ...string) result {
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := cli.Main(ctx, args, &out, &errOut)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// cmd runs a command against e with the connection flags.
func (e *env) cmd(args ...string) result {
	return run(append(args, "--addr", e.url, "--token", adminToken)...)
}

// jsonOut decodes a --json run's stdout.
func (r result) jsonOut(t *testing.T, out any) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d, stderr: %s", r.code, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), out); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, r.stdout)
	}
}

// sendResult is `send --json` output.
type sendResult struct {
	Source     string `json:"source"`
	Kind       string `json:"kind"`
	Fixture    string `json:"fixture"`
	EventID    string `json:"event_id"`
	Status     string `json:"status"`
	HTTPStatus int    `json:"http_status"`
}

func (e *env) send(t *testing.T, args ...string) sendResult {
	t.Helper()
	var s sendResult
	e.cmd(append([]string{"send", "--json", "--data-dir", e.dataDir}, args...)...).jsonOut(t, &s)
	return s
}

// getEvent is `events get --json` output.
type getEvent struct {
	Event struct {
		ID           string `json:"id"`
		Source       string `json:"source"`
		Type         string `json:"type"`
		Subject      string `json:"subject"`
		OriginalBody []byte `json:"original_body"`
	} `json:"event"`
	Deliveries []struct {
		Subscription string `json:"subscription"`
		State        string `json:"state"`
		Attempts     []struct {
			Code   string `json:"code"`
			Replay bool   `json:"replay"`
		} `json:"attempts"`
	} `json:"deliveries"`
}

func (e *env) event(t *testing.T, source, id string) getEvent {
	t.Helper()
	var g getEvent
	// Polled: eventlog.Get can miss an event that the indexer indexes and acks
	// between Get's index lookup and its read of the ack floor (reported to the
	// eventlog's owner); a 404 right after an accepted send is that race.
	var r result
	eventually.True(t, 30*time.Second, "event "+source+"/"+id, func() bool {
		r = e.cmd("events", "get", id, "--source", source, "--json")
		return r.code == 0 || !strings.Contains(r.stderr, "not_found")
	})
	r.jsonOut(t, &g)
	return g
}

// state is the sink subscription's delivery state of an event ("" while none).
func (g getEvent) state() string {
	for _, d := range g.Deliveries {
		if d.Subscription == "sink" {
			return d.State
		}
	}
	return ""
}
