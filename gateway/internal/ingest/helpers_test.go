package ingest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	"github.com/hookmesh/hookmesh/gateway/internal/hasura"
	"github.com/hookmesh/hookmesh/gateway/internal/webhook"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

const hasuraSecret = "hasura-test-secret"

func testLogger() *slog.Logger {
	if os.Getenv("HOOKMESH_TEST_LOG") != "" {
		return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// openLog starts a real embedded event log on a temp dir and waits until it takes writes.
func openLog(t testing.TB, cfg eventlog.Config) *eventlog.Log {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	l, err := eventlog.Open(ctx, cfg, testLogger())
	if err != nil {
		t.Fatalf("open event log: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	if err := l.WaitReady(ctx); err != nil {
		t.Fatalf("event log not ready: %v", err)
	}
	return l
}

// stored is the number of events in the log's stream.
func stored(t testing.TB, l *eventlog.Log) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s, err := l.JetStream().Stream(ctx, l.Stream())
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	return info.State.Msgs
}

func hasuraRoute(t testing.TB, name, trace string) Route {
	t.Helper()
	src, err := hasura.New(hasura.Config{Name: name, Secrets: []string{hasuraSecret}})
	if err != nil {
		t.Fatal(err)
	}
	return Route{Name: name, Source: src, Trace: trace}
}

// serve mounts the handler like the gateway does and returns the server's URL.
func serve(t testing.TB, cfg Config) string {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/hooks/{source}", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func hasuraBody(id string) []byte {
	return []byte(`{"id":"` + id + `","table":{"schema":"public","name":"users"},"trigger":{"name":"users_all"},` +
		`"event":{"op":"INSERT","data":{"old":null,"new":{"id":7,"email":"a@example.com"}},"session_variables":{"x-hasura-role":"admin"},"trace_context":null},` +
		`"delivery_info":{"current_retry":0,"max_retries":3},"created_at":"2024-05-01T09:30:00.123456"}`)
}

type response struct {
	Status     int
	RetryAfter string
	Body       map[string]any
	Raw        []byte
}

func (r response) code() string {
	e, _ := r.Body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (r response) message() string {
	e, _ := r.Body["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func post(t testing.TB, url string, header http.Header, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return do(t, req)
}

func do(t testing.TB, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := response{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After"), Raw: raw}
	if resp.Header.Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			t.Fatalf("response is not JSON: %q", raw)
		}
	}
	return out
}

func hasuraHeader() http.Header {
	return http.Header{"Content-Type": {"application/json"}, "X-Hasura-Webhook-Secret": {hasuraSecret}}
}

func stripeHeader(secret string, ts time.Time, body []byte) http.Header {
	t := strconv.FormatInt(ts.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(t + "."))
	m.Write(body)
	return http.Header{"Content-Type": {"application/json"},
		webhook.StripeSignatureHeader: {"t=" + t + ",v1=" + hex.EncodeToString(m.Sum(nil))}}
}

func githubHeader(secret, event, delivery string, body []byte) http.Header {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return http.Header{"Content-Type": {"application/json"}, "X-Github-Event": {event},
		"X-Github-Delivery": {delivery}, "X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(m.Sum(nil))}}
}

func traceIDOf(tp string) string {
	if len(tp) != 55 {
		return ""
	}
	return tp[3:35]
}

func spanIDOf(tp string) string {
	if len(tp) != 55 {
		return ""
	}
	return tp[36:52]
}

var _ = trace.SpanContext{}

// getEvent reads an event back, polling briefly: eventlog.Get can miss an event in
// the instant its index entry is being written (reported to the eventlog owner).
func getEvent(t testing.TB, l *eventlog.Log, source, id string) *eventv1.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		ev, _, err := l.Get(ctx, source, id)
		cancel()
		if err == nil {
			return ev
		}
		if !errors.Is(err, eventlog.ErrNotFound) || time.Now().After(deadline) {
			t.Fatalf("get %s/%s: %v", source, id, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
