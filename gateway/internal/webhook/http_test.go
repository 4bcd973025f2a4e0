package webhook_test

// HTTP-level tests: every signature vector and the provider handshakes and form
// bodies go through the real ingest handler on a loopback server, appending to a
// real embedded event log. The verifiers' own tests are in package webhook.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	"github.com/hookmesh/hookmesh/gateway/internal/hasura"
	"github.com/hookmesh/hookmesh/gateway/internal/ingest"
	"github.com/hookmesh/hookmesh/gateway/internal/webhook"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// gateway is one event log behind one loopback server whose handler (routes and
// clock) each subtest swaps in.
type gateway struct {
	log     *eventlog.Log
	url     string
	handler atomic.Pointer[http.Handler]
}

func newGateway(t *testing.T) *gateway {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	logger := slog.New(slog.DiscardHandler)
	l, err := eventlog.Open(ctx, eventlog.Config{DataDir: t.TempDir()}, logger)
	if err != nil {
		t.Fatalf("open event log: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	if err := l.WaitReady(ctx); err != nil {
		t.Fatalf("event log not ready: %v", err)
	}
	g := &gateway{log: l}
	mux := http.NewServeMux()
	mux.HandleFunc("/hooks/{source}", func(w http.ResponseWriter, r *http.Request) { (*g.handler.Load()).ServeHTTP(w, r) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	g.url = srv.URL
	return g
}

// use installs a handler with these sources (name → Source) and this clock.
func (g *gateway) use(t *testing.T, now time.Time, sources map[string]webhook.Source) {
	t.Helper()
	var routes []ingest.Route
	for name, src := range sources {
		routes = append(routes, ingest.Route{Name: name, Source: src})
	}
	h, err := ingest.New(ingest.Config{Routes: routes, Log: g.log, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	var hh http.Handler = h
	g.handler.Store(&hh)
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("reply %d %q is not JSON: %v", r.status, r.body, err)
	}
	return m
}

func (r reply) errorCode(t *testing.T) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func (g *gateway) post(t *testing.T, source string, header http.Header, body []byte) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.url+"/hooks/"+source, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// stored counts the events in the log.
func (g *gateway) stored(t *testing.T) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s, err := g.log.JetStream().Stream(ctx, g.log.Stream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// get polls for a stored event. Append acknowledged it already; the poll only
// absorbs eventlog.Get's short read-after-append gap (tens of ms, reported to the
// eventlog owner) and gives up after a generous deadline.
func (g *gateway) get(t *testing.T, source, id string) *eventv1.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ev, _, err := g.log.Get(t.Context(), source, id)
		if err == nil {
			return ev
		}
		if !errors.Is(err, eventlog.ErrNotFound) || time.Now().After(deadline) {
			t.Fatalf("stored event %s/%s: %v", source, id, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// httpVector is the part of testdata/vectors.json this test needs.
type httpVector struct {
	ID      string   `json:"id"`
	Scheme  string   `json:"scheme"`
	Secrets []string `json:"secrets"`
	Config  struct {
		HeaderName string `json:"header_name"`
	} `json:"config"`
	Request struct {
		Headers []struct{ Name, Value string } `json:"headers"`
		Body64  string                         `json:"body_base64"`
	} `json:"request"`
	Now       *int64 `json:"now"`
	Tolerance *int64 `json:"tolerance_seconds"`
	Expected  struct {
		Valid  bool   `json:"valid"`
		Reason string `json:"reason"`
	} `json:"expected"`
	ReasonNote string `json:"reason_note"`
}

func (v httpVector) source(t *testing.T) webhook.Source {
	t.Helper()
	var tol time.Duration
	if v.Tolerance != nil {
		tol = time.Duration(*v.Tolerance) * time.Second
	}
	var (
		src webhook.Source
		err error
	)
	switch v.Scheme {
	case "stripe":
		src, err = webhook.NewStripe(webhook.StripeConfig{Secrets: v.Secrets, Tolerance: tol})
	case "github":
		src, err = webhook.NewGitHub(webhook.GitHubConfig{Secrets: v.Secrets})
	case "shopify":
		src, err = webhook.NewShopify(webhook.ShopifyConfig{Secrets: v.Secrets})
	case "slack":
		src, err = webhook.NewSlack(webhook.SlackConfig{Secrets: v.Secrets, Tolerance: tol})
	case "standard_webhooks":
		src, err = webhook.NewStandardWebhooks(webhook.StandardWebhooksConfig{Secrets: v.Secrets, Tolerance: tol})
	case "hasura_shared_secret_header":
		src, err = hasura.New(hasura.Config{Name: v.ID, Header: v.Config.HeaderName, Secrets: v.Secrets})
	default:
		t.Fatalf("unknown scheme %q", v.Scheme)
	}
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// typePrefix is how each scheme's event types start.
var typePrefix = map[string]string{"stripe": "stripe.", "github": "github.", "shopify": "shopify.", "slack": "slack.",
	"standard_webhooks": "webhook.", "hasura_shared_secret_header": "hasura."}

// Valid vectors whose request is authentic but is not an event to store.
var validNotStored = map[string]struct {
	status int
	code   string // error code, or "" for a handshake reply
	reply  string
}{
	"github-valid-docs-vector":       {status: 400, code: webhook.CodeMalformedJSON}, // "Hello, World!" is not a delivery
	"github-valid-ping-both-headers": {status: 200, reply: `{"status":"pong"}`},
	"github-valid-unicode-payload":   {status: 200, reply: `{"status":"pong"}`}, // sent with X-GitHub-Event: ping
}

func TestHTTPVectors(t *testing.T) {
	data, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		ReasonCodes []string     `json:"reason_codes"`
		Vectors     []httpVector `json:"vectors"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	g := newGateway(t)
	for _, v := range file.Vectors {
		t.Run(v.ID, func(t *testing.T) {
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			if v.Now != nil {
				now = time.Unix(*v.Now, 0)
			}
			// The vector id is the source name, so each vector starts with no history.
			g.use(t, now, map[string]webhook.Source{v.ID: v.source(t)})
			body, err := base64.StdEncoding.DecodeString(v.Request.Body64)
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			for _, kv := range v.Request.Headers {
				h.Add(kv.Name, kv.Value)
			}
			before := g.stored(t)
			r := g.post(t, v.ID, h, body)

			if !v.Expected.Valid {
				accepted := []string{v.Expected.Reason}
				for _, c := range file.ReasonCodes {
					if strings.Contains(v.ReasonNote, c) {
						accepted = append(accepted, c)
					}
				}
				if r.status != http.StatusUnauthorized || !slices.Contains(accepted, r.errorCode(t)) {
					t.Fatalf("got %d %s, want 401 with one of %v", r.status, r.body, accepted)
				}
				if n := g.stored(t); n != before {
					t.Fatalf("a refused request changed the log: %d → %d events", before, n)
				}
				return
			}
			if special, ok := validNotStored[v.ID]; ok {
				if r.status != special.status {
					t.Fatalf("got %d %s, want %d", r.status, r.body, special.status)
				}
				if special.code != "" && r.errorCode(t) != special.code {
					t.Fatalf("code %s, want %s", r.errorCode(t), special.code)
				}
				if special.reply != "" && string(r.body) != special.reply {
					t.Fatalf("reply %q, want %q", r.body, special.reply)
				}
				if n := g.stored(t); n != before {
					t.Fatalf("stored %d events, want none", n-before)
				}
				return
			}
			if r.status == http.StatusOK && len(r.body) == 0 {
				// Slack commands are acknowledged with an empty body (AckEmpty).
				if n := g.stored(t); n != before+1 {
					t.Fatalf("stored %d events, want 1", n-before)
				}
				if again := g.post(t, v.ID, h, body); again.status != http.StatusOK || g.stored(t) != before+1 {
					t.Fatalf("resend: got %d, stored %d", again.status, g.stored(t)-before)
				}
				return
			}
			if r.status != http.StatusOK || r.json(t)["status"] != "accepted" {
				t.Fatalf("got %d %s, want 200 accepted", r.status, r.body)
			}
			id, _ := r.json(t)["event_id"].(string)
			ev := g.get(t, v.ID, id)
			if ev.GetSource() != v.ID || !strings.HasPrefix(ev.GetType(), typePrefix[v.Scheme]) || !bytes.Equal(ev.GetOriginalBody(), body) {
				t.Fatalf("stored event %s/%s type %s does not match the request", ev.GetSource(), ev.GetId(), ev.GetType())
			}
			// The sender's retry of the same delivery is a duplicate, not a second event.
			if again := g.post(t, v.ID, h, body); again.status != http.StatusOK || again.json(t)["status"] != "duplicate" {
				t.Fatalf("retry: got %d %s, want 200 duplicate", again.status, again.body)
			}
			if n := g.stored(t); n != before+1 {
				t.Fatalf("stored %d events, want 1", n-before)
			}
		})
	}
}

func hmacHex(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// TestHTTPProviderShapes: handshakes, form bodies, early 415 and re-signed retries.
func TestHTTPProviderShapes(t *testing.T) {
	const secret = "shared-test-secret"
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ts := strconv.FormatInt(now.Unix(), 10)
	must := func(s webhook.Source, err error) webhook.Source {
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	standardKey := base64.StdEncoding.EncodeToString([]byte("standard-test-key-32-bytes-long!"))
	g := newGateway(t)
	g.use(t, now, map[string]webhook.Source{
		"stripe":   must(webhook.NewStripe(webhook.StripeConfig{Secrets: []string{secret}})),
		"github":   must(webhook.NewGitHub(webhook.GitHubConfig{Secrets: []string{secret}})),
		"slack":    must(webhook.NewSlack(webhook.SlackConfig{Secrets: []string{secret}})),
		"standard": must(webhook.NewStandardWebhooks(webhook.StandardWebhooksConfig{Secrets: []string{"whsec_" + standardKey}})),
		"partner": must(webhook.NewHMAC(webhook.HMACConfig{Secrets: []string{secret}, Header: "X-Partner-Signature",
			Prefix: "sha256=", TimestampHeader: "X-Partner-Timestamp", IDFrom: "header:X-Partner-Delivery",
			TypeFrom: "json:$.event", SubjectFrom: "json:$.order.id", SignedContent: "{id}.{timestamp}.{body}"})),
	})
	slackHeader := func(ct string, body string) http.Header {
		return http.Header{"Content-Type": {ct}, "X-Slack-Request-Timestamp": {ts},
			"X-Slack-Signature": {"v0=" + hmacHex(secret, "v0:"+ts+":"+body)}}
	}
	const form = "application/x-www-form-urlencoded"

	t.Run("slack url_verification answers the challenge, stores nothing", func(t *testing.T) {
		before := g.stored(t)
		body := `{"token":"x","challenge":"c-123","type":"url_verification"}`
		r := g.post(t, "slack", slackHeader("application/json", body), []byte(body))
		if r.status != 200 || r.json(t)["challenge"] != "c-123" || g.stored(t) != before {
			t.Fatalf("got %d %s", r.status, r.body)
		}
	})
	t.Run("github form body is verified over the raw bytes and stored", func(t *testing.T) {
		payload := `{"ref":"refs/heads/main","repository":{"full_name":"o/r"}}`
		body := "payload=" + url.QueryEscape(payload)
		h := http.Header{"Content-Type": {form}, "X-GitHub-Event": {"push"}, "X-GitHub-Delivery": {"d-form-1"},
			"X-Hub-Signature-256": {"sha256=" + hmacHex(secret, body)}}
		r := g.post(t, "github", h, []byte(body))
		if r.status != 200 || r.json(t)["event_id"] != "d-form-1" {
			t.Fatalf("got %d %s", r.status, r.body)
		}
		ev := g.get(t, "github", "d-form-1")
		if ev.GetType() != "github.push" || ev.GetSubject() != "o/r" || ev.GetDatacontenttype() != form {
			t.Fatalf("stored %s %s %s", ev.GetType(), ev.GetSubject(), ev.GetDatacontenttype())
		}
		// The same fields re-encoded are not the signed bytes.
		re := url.Values{"payload": {payload}}.Encode() + "&"
		h.Set("X-GitHub-Delivery", "d-form-2")
		if r := g.post(t, "github", h, []byte(re)); r.status != 401 || r.errorCode(t) != webhook.CodeSignatureMismatch {
			t.Fatalf("re-encoded form: got %d %s", r.status, r.body)
		}
	})
	t.Run("slack slash command and interactivity are stored", func(t *testing.T) {
		cmd := "command=%2Fdeploy&text=prod&team_id=T1&channel_id=C1&user_id=U1&trigger_id=111.222.abc"
		r := g.post(t, "slack", slackHeader(form, cmd), []byte(cmd))
		// Slack shows the answer to the user: an empty 200, the command stored once.
		if r.status != 200 || len(r.body) != 0 {
			t.Fatalf("command: got %d %s", r.status, r.body)
		}
		if ev := g.get(t, "slack", "trg_111.222.abc"); ev.GetType() != "slack.command.deploy" {
			t.Fatalf("command event type %s", ev.GetType())
		}
		inter := "payload=" + url.QueryEscape(`{"type":"block_actions","trigger_id":"333.444.def","team":{"id":"T1"},"user":{"id":"U1"}}`)
		if r := g.post(t, "slack", slackHeader(form, inter), []byte(inter)); r.status != 200 || len(r.body) != 0 {
			t.Fatalf("interactivity: got %d %s", r.status, r.body)
		}
		if ev := g.get(t, "slack", "trg_333.444.def"); ev.GetType() != "slack.interactive.block_actions" {
			t.Fatalf("interactivity event type %s", ev.GetType())
		}
	})
	t.Run("415 before verification", func(t *testing.T) {
		before := g.stored(t)
		r := g.post(t, "stripe", http.Header{"Content-Type": {form}}, []byte("a=b"))
		if r.status != http.StatusUnsupportedMediaType || r.errorCode(t) != webhook.CodeUnsupportedMediaType || g.stored(t) != before {
			t.Fatalf("got %d %s", r.status, r.body)
		}
	})
	t.Run("standard webhooks retry with a new timestamp is a duplicate", func(t *testing.T) {
		body := `{"type":"invoice.paid","timestamp":"2026-01-01T11:59:00Z","data":{"id":"in_1"}}`
		send := func(at int64) reply {
			key, _ := base64.StdEncoding.DecodeString(standardKey)
			m := hmac.New(sha256.New, key)
			fmt.Fprintf(m, "msg_retry.%d.%s", at, body)
			h := http.Header{"Content-Type": {"application/json"}, "webhook-id": {"msg_retry"},
				"webhook-timestamp": {strconv.FormatInt(at, 10)},
				"webhook-signature": {"v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))}}
			return g.post(t, "standard", h, []byte(body))
		}
		if r := send(now.Unix() - 100); r.status != 200 || r.json(t)["status"] != "accepted" {
			t.Fatalf("first: %d %s", r.status, r.body)
		}
		if r := send(now.Unix() - 5); r.status != 200 || r.json(t)["status"] != "duplicate" {
			t.Fatalf("retry: %d %s", r.status, r.body)
		}
		if ev := g.get(t, "standard", "msg_retry"); ev.GetType() != "webhook.standard.invoice.paid" || ev.GetSubject() != "in_1" {
			t.Fatalf("stored %s %s", ev.GetType(), ev.GetSubject())
		}
	})
	t.Run("generic hmac: id_from de-duplicates re-signed retries", func(t *testing.T) {
		body := `{"event":"order.shipped","order":{"id":"o-77"}}`
		send := func(at int64) reply {
			sts := strconv.FormatInt(at, 10)
			h := http.Header{"Content-Type": {"application/json"}, "X-Partner-Delivery": {"dl-1"}, "X-Partner-Timestamp": {sts},
				"X-Partner-Signature": {"sha256=" + hmacHex(secret, "dl-1."+sts+"."+body)}}
			return g.post(t, "partner", h, []byte(body))
		}
		if r := send(now.Unix()); r.status != 200 || r.json(t)["status"] != "accepted" || r.json(t)["event_id"] != "dl-1" {
			t.Fatalf("first: %d %s", r.status, r.body)
		}
		if r := send(now.Unix() + 30); r.status != 200 || r.json(t)["status"] != "duplicate" {
			t.Fatalf("retry: %d %s", r.status, r.body)
		}
		if r := send(now.Unix() - 301); r.status != 401 || r.errorCode(t) != webhook.CodeTimestampExpired {
			t.Fatalf("stale: %d %s", r.status, r.body)
		}
		ev := g.get(t, "partner", "dl-1")
		if ev.GetType() != "webhook.partner.order.shipped" || ev.GetSubject() != "o-77" {
			t.Fatalf("stored %s %s", ev.GetType(), ev.GetSubject())
		}
		if _, kept := ev.GetProvider().GetHeaders()["x-partner-signature"]; kept {
			t.Fatal("signature header stored")
		}
	})
}
