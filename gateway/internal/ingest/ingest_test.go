package ingest

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	"github.com/hookmesh/hookmesh/gateway/internal/ratelimit"
	"github.com/hookmesh/hookmesh/gateway/internal/webhook"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

func TestAcceptedThenDuplicate(t *testing.T) {
	l := openLog(t, eventlog.Config{})
	url := serve(t, Config{Log: l, Routes: []Route{hasuraRoute(t, "hasura", "")}})
	body := hasuraBody("4b5d3c1e-0000-4000-8000-000000000001")

	r := post(t, url+"/hooks/hasura", hasuraHeader(), body)
	if r.Status != http.StatusOK || r.Body["status"] != "accepted" || r.Body["event_id"] != "4b5d3c1e-0000-4000-8000-000000000001" {
		t.Fatalf("first delivery: %d %s", r.Status, r.Raw)
	}
	// Hasura's retry carries the same id and a new delivery_info: same event.
	retry := []byte(strings.Replace(string(body), `"current_retry":0`, `"current_retry":1`, 1))
	r = post(t, url+"/hooks/hasura", hasuraHeader(), retry)
	if r.Status != http.StatusOK || r.Body["status"] != "duplicate" {
		t.Fatalf("retry: %d %s", r.Status, r.Raw)
	}
	if n := stored(t, l); n != 1 {
		t.Fatalf("log holds %d events, want 1", n)
	}
	ev := getEvent(t, l, "hasura", "4b5d3c1e-0000-4000-8000-000000000001")
	if ev.GetType() != "hasura.public.users.insert" || ev.GetSubject() != "public.users/7" || ev.GetReceivedTime() == nil ||
		string(ev.GetOriginalBody()) != string(body) || ev.GetHasuraTable().GetDeliveryInfo().GetCurrentRetry() != 0 {
		t.Errorf("stored event: %v", ev)
	}
}

func TestMissingContentTypeAccepted(t *testing.T) {
	l := openLog(t, eventlog.Config{})
	url := serve(t, Config{Log: l, Routes: []Route{hasuraRoute(t, "hasura", "")}})
	h := hasuraHeader()
	h.Del("Content-Type")
	req, _ := http.NewRequest(http.MethodPost, url+"/hooks/hasura", strings.NewReader(string(hasuraBody("no-ct"))))
	req.Header = h
	if r := do(t, req); r.Status != http.StatusOK {
		t.Fatalf("no content type: %d %s", r.Status, r.Raw)
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	if r := post(t, url+"/hooks/hasura", h, hasuraBody("with-charset")); r.Status != http.StatusOK {
		t.Fatalf("json with charset: %d %s", r.Status, r.Raw)
	}
}

// TestBadInput is DESIGN.md Promise 4 through real HTTP and a real log: every refusal
// has its status, code and JSON shape, and nothing is appended.
func TestBadInput(t *testing.T) {
	const stripeSecret = "whsec_test_stripe"
	now := time.Now()
	l := openLog(t, eventlog.Config{})
	stripeSrc, err := webhook.NewStripe(webhook.StripeConfig{Secrets: []string{stripeSecret}})
	if err != nil {
		t.Fatal(err)
	}
	small := hasuraRoute(t, "small", "")
	small.MaxBodyBytes = 64
	limited := hasuraRoute(t, "limited", "")
	limited.RateLimit = ratelimit.Config{RequestsPerSecond: 0.001, Burst: 1}
	url := serve(t, Config{Log: l, Routes: []Route{hasuraRoute(t, "hasura", ""), small, limited,
		{Name: "stripe", Source: stripeSrc, Trace: TraceLink}}})
	// The limited source's one token goes to a valid request first.
	if r := post(t, url+"/hooks/limited", hasuraHeader(), hasuraBody("limited-1")); r.Status != http.StatusOK {
		t.Fatalf("first limited request: %d %s", r.Status, r.Raw)
	}
	before := stored(t, l)

	stripeBody := []byte(`{"id":"evt_1","object":"event","type":"payment_intent.succeeded","created":1700000000,"data":{"object":{"id":"pi_1"}}}`)
	withHeader := func(h http.Header, k, v string) http.Header {
		c := h.Clone()
		if v == "" {
			c.Del(k)
		} else {
			c.Set(k, v)
		}
		return c
	}
	tests := []struct {
		name       string
		path       string
		method     string
		header     http.Header
		body       string
		chunked    bool
		status     int
		code       string
		retryAfter bool
	}{
		{name: "not JSON", path: "hasura", header: hasuraHeader(), body: `{"id":`, status: 400, code: "malformed_json"},
		{name: "JSON of another shape", path: "hasura", header: hasuraHeader(), body: `{"hello":"world"}`, status: 400, code: "invalid_payload"},
		{name: "missing id", path: "hasura", header: hasuraHeader(), body: `{"table":{"schema":"s","name":"t"},"event":{"op":"INSERT","data":{"new":{}}}}`, status: 400, code: "invalid_payload"},
		{name: "missing secret header", path: "hasura", header: withHeader(hasuraHeader(), "X-Hasura-Webhook-Secret", ""), body: string(hasuraBody("x1")), status: 401, code: "missing_header"},
		{name: "wrong secret", path: "hasura", header: withHeader(hasuraHeader(), "X-Hasura-Webhook-Secret", "nope"), body: string(hasuraBody("x2")), status: 401, code: "signature_mismatch"},
		{name: "stripe without signature", path: "stripe", header: http.Header{"Content-Type": {"application/json"}}, body: string(stripeBody), status: 401, code: "missing_header"},
		{name: "stripe malformed signature", path: "stripe", header: withHeader(stripeHeader(stripeSecret, now, stripeBody), webhook.StripeSignatureHeader, "garbage"), body: string(stripeBody), status: 401, code: "malformed_header"},
		{name: "stripe unsupported scheme", path: "stripe", header: withHeader(stripeHeader(stripeSecret, now, stripeBody), webhook.StripeSignatureHeader, "t="+strconv.FormatInt(now.Unix(), 10)+",v0=abcd"), body: string(stripeBody), status: 401, code: "unsupported_scheme"},
		{name: "stripe timestamp expired", path: "stripe", header: stripeHeader(stripeSecret, now.Add(-time.Hour), stripeBody), body: string(stripeBody), status: 401, code: "timestamp_expired"},
		{name: "stripe timestamp in future", path: "stripe", header: stripeHeader(stripeSecret, now.Add(time.Hour), stripeBody), body: string(stripeBody), status: 401, code: "timestamp_in_future"},
		{name: "stripe signature mismatch", path: "stripe", header: stripeHeader("whsec_other", now, stripeBody), body: string(stripeBody), status: 401, code: "signature_mismatch"},
		{name: "unknown source", path: "nope", header: hasuraHeader(), body: string(hasuraBody("x3")), status: 404, code: "unknown_source"},
		{name: "body over the limit", path: "small", header: hasuraHeader(), body: string(hasuraBody("x4")), status: 413, code: "body_too_large"},
		{name: "chunked body over the limit", path: "small", header: hasuraHeader(), body: string(hasuraBody("x5")), chunked: true, status: 413, code: "body_too_large"},
		{name: "unsupported media type", path: "hasura", header: withHeader(hasuraHeader(), "Content-Type", "application/x-www-form-urlencoded"), body: "a=b", status: 415, code: "unsupported_media_type"},
		{name: "text/plain", path: "hasura", header: withHeader(hasuraHeader(), "Content-Type", "text/plain"), body: string(hasuraBody("x6")), status: 415, code: "unsupported_media_type"},
		{name: "over the rate", path: "limited", header: hasuraHeader(), body: string(hasuraBody("limited-2")), status: 429, code: "rate_limited", retryAfter: true},
		{name: "GET", path: "hasura", method: http.MethodGet, header: hasuraHeader(), status: 405, code: "method_not_allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			var body = strings.NewReader(tc.body)
			req, err := http.NewRequest(method, url+"/hooks/"+tc.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header = tc.header.Clone()
			if tc.chunked {
				req.ContentLength = -1 // sent chunked: no declared length
				req.Body = readerOnly{strings.NewReader(tc.body)}
			}
			r := do(t, req)
			if r.Status != tc.status || r.code() != tc.code {
				t.Fatalf("got %d %q, want %d %q (%s)", r.Status, r.code(), tc.status, tc.code, r.Raw)
			}
			if r.message() == "" {
				t.Errorf("no error.message: %s", r.Raw)
			}
			if len(r.Body) != 1 {
				t.Errorf("body has keys besides error: %s", r.Raw)
			}
			if tc.retryAfter {
				if n, err := strconv.Atoi(r.RetryAfter); err != nil || n < 1 {
					t.Errorf("Retry-After %q is not a positive integer", r.RetryAfter)
				}
			} else if r.RetryAfter != "" {
				t.Errorf("unexpected Retry-After %q", r.RetryAfter)
			}
			if n := stored(t, l); n != before {
				t.Fatalf("log went from %d to %d events", before, n)
			}
		})
	}
}

type readerOnly struct{ r *strings.Reader }

func (r readerOnly) Read(p []byte) (int, error) { return r.r.Read(p) }
func (r readerOnly) Close() error               { return nil }

func TestRateLimitCountsOnlyVerifiedRequests(t *testing.T) {
	l := openLog(t, eventlog.Config{})
	rt := hasuraRoute(t, "hasura", "")
	rt.RateLimit = ratelimit.Config{RequestsPerSecond: 0.001, Burst: 2}
	url := serve(t, Config{Log: l, Routes: []Route{rt}})
	bad := hasuraHeader()
	bad.Set("X-Hasura-Webhook-Secret", "wrong")
	for i := 0; i < 5; i++ {
		if r := post(t, url+"/hooks/hasura", bad, hasuraBody("bad")); r.Status != http.StatusUnauthorized {
			t.Fatalf("unauthenticated: %d", r.Status)
		}
	}
	for i := 0; i < 2; i++ {
		if r := post(t, url+"/hooks/hasura", hasuraHeader(), hasuraBody("ok-"+strconv.Itoa(i))); r.Status != http.StatusOK {
			t.Fatalf("request %d within the burst: %d %s", i, r.Status, r.Raw)
		}
	}
	r := post(t, url+"/hooks/hasura", hasuraHeader(), hasuraBody("ok-3"))
	if r.Status != http.StatusTooManyRequests || r.code() != "rate_limited" || r.RetryAfter == "" {
		t.Fatalf("over the burst: %d %s Retry-After=%q", r.Status, r.Raw, r.RetryAfter)
	}
}

func TestLogCannotTakeEvents(t *testing.T) {
	t.Run("unavailable", func(t *testing.T) {
		l := openLog(t, eventlog.Config{})
		url := serve(t, Config{Log: l, Routes: []Route{hasuraRoute(t, "hasura", "")}})
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		r := post(t, url+"/hooks/hasura", hasuraHeader(), hasuraBody("while-down"))
		if r.Status != http.StatusServiceUnavailable || r.code() != "log_unavailable" || r.RetryAfter != "1" {
			t.Fatalf("got %d %s Retry-After=%q", r.Status, r.Raw, r.RetryAfter)
		}
	})
	t.Run("full", func(t *testing.T) {
		l := openLog(t, eventlog.Config{MaxBytes: 4096})
		url := serve(t, Config{Log: l, Routes: []Route{hasuraRoute(t, "hasura", "")}})
		var r response
		for i := 0; i < 50; i++ {
			r = post(t, url+"/hooks/hasura", hasuraHeader(), hasuraBody("fill-"+strconv.Itoa(i)))
			if r.Status != http.StatusOK {
				break
			}
		}
		if r.Status != http.StatusServiceUnavailable || r.code() != "log_unavailable" || r.RetryAfter != "30" {
			t.Fatalf("got %d %s Retry-After=%q", r.Status, r.Raw, r.RetryAfter)
		}
		n := stored(t, l)
		// Still full: the refused event is not there, and a retry is refused again.
		r = post(t, url+"/hooks/hasura", hasuraHeader(), hasuraBody("fill-after"))
		if r.Status != http.StatusServiceUnavailable || stored(t, l) != n {
			t.Fatalf("retry while full: %d, log %d → %d", r.Status, n, stored(t, l))
		}
	})
}

func TestHandshakeAppendsNothing(t *testing.T) {
	const secret = "gh-secret"
	l := openLog(t, eventlog.Config{})
	gh, err := webhook.NewGitHub(webhook.GitHubConfig{Secrets: []string{secret}})
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, Config{Log: l, Routes: []Route{{Name: "github", Source: gh}}})
	ping := []byte(`{"zen":"Keep it logically awesome.","hook_id":1}`)
	r := post(t, url+"/hooks/github", githubHeader(secret, "ping", "d-1", ping), ping)
	if r.Status != http.StatusOK || stored(t, l) != 0 {
		t.Fatalf("ping: %d %s, log %d", r.Status, r.Raw, stored(t, l))
	}
	push := []byte(`{"ref":"refs/heads/main","repository":{"full_name":"o/r"}}`)
	r = post(t, url+"/hooks/github", githubHeader(secret, "push", "d-2", push), push)
	if r.Status != http.StatusOK || r.Body["event_id"] != "d-2" || stored(t, l) != 1 {
		t.Fatalf("push: %d %s, log %d", r.Status, r.Raw, stored(t, l))
	}
}

// fakeLog returns a fixed error: the log's own error classes at the handler's seam.
type fakeLog struct{ err error }

func (f fakeLog) Append(context.Context, *eventv1.Event) (eventlog.AppendResult, error) {
	return eventlog.AppendResult{}, f.err
}

func TestAppendErrorMapping(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
		retry  string
	}{
		{eventlog.ErrUnavailable, 503, "log_unavailable", "1"},
		{eventlog.ErrFull, 503, "log_unavailable", "30"},
		{context.DeadlineExceeded, 503, "log_unavailable", "1"},
		{eventlog.ErrTooLarge, 413, "body_too_large", ""},
		{eventlog.ErrInvalid, 400, "invalid_payload", ""},
	}
	for _, tc := range tests {
		t.Run(tc.err.Error(), func(t *testing.T) {
			url := serve(t, Config{Log: fakeLog{err: tc.err}, Routes: []Route{hasuraRoute(t, "hasura", "")}})
			r := post(t, url+"/hooks/hasura", hasuraHeader(), hasuraBody("e"))
			if r.Status != tc.status || r.code() != tc.code || r.RetryAfter != tc.retry {
				t.Fatalf("got %d %q Retry-After=%q, want %d %q %q", r.Status, r.code(), r.RetryAfter, tc.status, tc.code, tc.retry)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	src := hasuraRoute(t, "a", "").Source
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no log", Config{Routes: []Route{{Name: "a", Source: src}}}},
		{"empty name", Config{Log: fakeLog{}, Routes: []Route{{Source: src}}}},
		{"slash in name", Config{Log: fakeLog{}, Routes: []Route{{Name: "a/b", Source: src}}}},
		{"duplicate", Config{Log: fakeLog{}, Routes: []Route{{Name: "a", Source: src}, {Name: "a", Source: src}}}},
		{"no source", Config{Log: fakeLog{}, Routes: []Route{{Name: "a"}}}},
		{"bad trace", Config{Log: fakeLog{}, Routes: []Route{{Name: "a", Source: src, Trace: "follow"}}}},
		{"bad rate", Config{Log: fakeLog{}, Routes: []Route{{Name: "a", Source: src, RateLimit: ratelimit.Config{RequestsPerSecond: -1}}}}},
		{"negative body timeout", Config{Log: fakeLog{}, Routes: []Route{{Name: "a", Source: src, BodyTimeout: -time.Second}}}},
		{"negative bodies in flight", Config{Log: fakeLog{}, MaxBodiesInFlight: -1, Routes: []Route{{Name: "a", Source: src}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestJSONString(t *testing.T) {
	got := string(appendJSONString(nil, "a\"b\\c\n\x01é\xff"))
	if got != `"a\"b\\c\u000a\u0001é\ufffd"` {
		t.Fatalf("got %s", got)
	}
}

var _ = proto.Clone
