package gateway

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/gateway/internal/config"
)

// frontDoorStatuses are the answers DESIGN.md Promise 4 documents for
// /hooks/*, plus 405 (not a POST) and 503 over_capacity.
var frontDoorStatuses = map[int]bool{200: true, 400: true, 401: true, 404: true, 405: true, 408: true,
	413: true, 415: true, 429: true, 503: true}

const fuzzHasuraSecret = "fuzz-hasura-secret"

// fuzzSecrets gives every demo source a secret (standard_webhooks needs base64).
func fuzzSecrets(name string) (string, bool, error) {
	switch {
	case strings.HasSuffix(name, "_PREVIOUS"):
		return "", false, nil
	case name == "HASURA_WEBHOOK_SECRET":
		return fuzzHasuraSecret, true, nil
	case name == "STANDARD_WEBHOOK_SECRET":
		return "whsec_" + base64.StdEncoding.EncodeToString([]byte("fuzz-standard-webhooks-key-24b")), true, nil
	case name == "STRIPE_WEBHOOK_SECRET":
		return "whsec_fuzz", true, nil
	}
	return "fuzz-secret-" + strings.ToLower(name), true, nil
}

// FuzzFrontDoor drives the gateway's whole HTTP handler (host and browser
// guards, mux, ingest with the demo sources, the real event log) with fuzzed
// headers, content types and bodies. Whatever comes in: no panic, a status
// from the documented set, and every 4xx/5xx a JSON error body.
func FuzzFrontDoor(f *testing.F) {
	file, err := config.Demo()
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(f.Context())
	f.Cleanup(cancel)
	g, err := New(ctx, Config{HTTPAddr: "127.0.0.1:0", DataDir: f.TempDir()},
		Deps{File: file, Secrets: fuzzSecrets, Logger: testLogger(), NoDispatcher: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(g.Close)
	handler := g.httpSrv.Handler
	sources := []string{"hasura", "stripe", "github", "shopify", "slack", "standard", "nope", ""}

	hasuraBody := `{"id":"f-1","table":{"schema":"public","name":"users"},"trigger":{"name":"t"},"event":{"op":"INSERT","data":{"old":null,"new":{"id":1}}},"created_at":"2024-05-01T09:30:00"}`
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	stripeBody := `{"id":"evt_1","type":"payment_intent.succeeded","created":1700000000,"data":{"object":{"id":"pi_1"}}}`
	m := hmac.New(sha256.New, []byte("whsec_fuzz"))
	m.Write([]byte(ts + "." + stripeBody))
	// The log takes writes before fuzzing starts, and the valid seed is stored.
	readyCtx, cancelReady := context.WithTimeout(ctx, 30*time.Second)
	defer cancelReady()
	if err := g.Log().WaitReady(readyCtx); err != nil {
		f.Fatal(err)
	}
	probe := httptest.NewRequest(http.MethodPost, "/hooks/hasura", strings.NewReader(hasuraBody))
	probe.Header.Set("Content-Type", "application/json")
	probe.Header.Set("X-Hasura-Webhook-Secret", fuzzHasuraSecret)
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, probe)
	if rec.Code != http.StatusOK {
		f.Fatalf("a valid Hasura webhook: %d %s", rec.Code, rec.Body.Bytes())
	}
	f.Add(uint8(0), "application/json", "X-Hasura-Webhook-Secret: "+fuzzHasuraSecret, []byte(hasuraBody), false)
	f.Add(uint8(0), "application/json; charset=utf-8", "X-Hasura-Webhook-Secret: wrong", []byte(hasuraBody), true)
	f.Add(uint8(1), "application/json", "Stripe-Signature: t="+ts+",v1="+hex.EncodeToString(m.Sum(nil)), []byte(stripeBody), false)
	f.Add(uint8(2), "application/x-www-form-urlencoded", "X-GitHub-Event: ping\nX-Hub-Signature-256: sha256=00", []byte("payload=%7B%7D"), false)
	f.Add(uint8(4), "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp: "+ts+"\nX-Slack-Signature: v0=ab", []byte("command=/x"), true)
	f.Add(uint8(5), "application/json", "webhook-id: m1\nwebhook-timestamp: "+ts+"\nwebhook-signature: v1,AAAA", []byte(`{}`), false)
	f.Add(uint8(6), "", "", []byte{}, false)
	f.Add(uint8(0), "text/plain", "Origin: http://evil.example\nSec-Fetch-Site: cross-site", bytes.Repeat([]byte("x"), 2<<20), false)
	f.Add(uint8(0), "application/json", "Expect: 100-continue\ntraceparent: 00-zz", []byte(`{"id":`), true)

	f.Fuzz(func(t *testing.T, src uint8, contentType, headers string, body []byte, chunked bool) {
		path := "/hooks/" + sources[int(src)%len(sources)]
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		if chunked {
			req.ContentLength = -1
		}
		req.Header.Set("Content-Type", contentType)
		for line := range strings.SplitSeq(headers, "\n") {
			k, v, ok := strings.Cut(line, ":")
			k = strings.TrimSpace(k)
			if !ok || k == "" || strings.ContainsAny(k, " \t\r") {
				continue
			}
			if strings.EqualFold(k, "Host") {
				req.Host = strings.TrimSpace(v)
				continue
			}
			req.Header.Add(k, strings.TrimSpace(v))
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)

		if !frontDoorStatuses[rec.Code] {
			t.Fatalf("POST %s: status %d is not a documented answer: %s", path, rec.Code, rec.Body.Bytes())
		}
		if rec.Code < 400 {
			return
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("POST %s: %d with Content-Type %q, want application/json", path, rec.Code, ct)
		}
		var out struct {
			Error *struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Error == nil || out.Error.Code == "" {
			t.Fatalf("POST %s: %d body is not {\"error\":{\"code\",\"message\"}}: %q (%v)", path, rec.Code, rec.Body.Bytes(), err)
		}
		if (rec.Code == 429 || rec.Code == 503) && rec.Header().Get("Retry-After") == "" {
			t.Fatalf("POST %s: %d without Retry-After", path, rec.Code)
		}
	})
}
