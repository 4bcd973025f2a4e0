package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hookmesh/hookmesh/gateway/internal/console"
	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

const token = "console-test-token"

// openLog is a real embedded event log on a temp dir.
func openLog(t *testing.T) *eventlog.Log {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	l, err := eventlog.Open(ctx, eventlog.Config{DataDir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open event log: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	if err := l.WaitReady(ctx); err != nil {
		t.Fatalf("event log not ready: %v", err)
	}
	return l
}

func appendEvent(t *testing.T, l *eventlog.Log, id string) uint64 {
	t.Helper()
	ev := &eventv1.Event{
		Id: id, Source: "hasura", Type: "hasura.public.users.insert", Subject: "public.users/" + id,
		Time: timestamppb.Now(), ReceivedTime: timestamppb.Now(), OriginalBody: []byte(`{}`),
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := l.Append(t.Context(), ev)
		if err == nil {
			return res.Seq
		}
		if time.Now().After(deadline) {
			t.Fatalf("append %s: %v", id, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serve mounts a console on a real HTTP server.
func serve(t *testing.T, cfg console.Config) (*console.Console, *httptest.Server) {
	t.Helper()
	c, err := console.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		c.Close()
		srv.Close()
	})
	return c, srv
}

func do(t *testing.T, method, url, body string, header map[string]string, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func login(t *testing.T, srv *httptest.Server) *http.Cookie {
	t.Helper()
	resp := do(t, "POST", srv.URL+"/console/login", `{"token":"`+token+`"}`, map[string]string{"Origin": srv.URL})
	readAll(t, resp)
	for _, c := range resp.Cookies() {
		if c.Name == console.CookieName {
			return c
		}
	}
	t.Fatalf("login set no %s cookie (status %d)", console.CookieName, resp.StatusCode)
	return nil
}

func TestNewValidates(t *testing.T) {
	l := openLog(t)
	tests := []struct {
		name string
		cfg  console.Config
	}{
		{"no log", console.Config{}},
		{"negative backlog", console.Config{Log: l, Backlog: -1}},
		{"huge backlog", console.Config{Log: l, Backlog: 5000}},
		{"negative heartbeat", console.Config{Log: l, Heartbeat: -time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := console.New(tc.cfg); err == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
}

func TestLogin(t *testing.T) {
	l := openLog(t)
	_, srv := serve(t, console.Config{Token: token, Log: l})
	same := map[string]string{"Origin": srv.URL, "Content-Type": "application/json"}
	tests := []struct {
		name       string
		body       string
		header     map[string]string
		status     int
		wantCookie bool
		wantCode   string
	}{
		{"right token", `{"token":"` + token + `"}`, same, 200, true, ""},
		{"wrong token", `{"token":"nope"}`, same, 401, false, "unauthenticated"},
		{"empty token", `{"token":""}`, same, 401, false, "unauthenticated"},
		{"not JSON", `token=` + token, same, 400, false, "invalid_argument"},
		{"unknown field", `{"token":"` + token + `","admin":true}`, same, 400, false, "invalid_argument"},
		{"cross-origin", `{"token":"` + token + `"}`, map[string]string{"Origin": "http://evil.test"}, 403, false, "cross_origin"},
		{"cross-site fetch", `{"token":"` + token + `"}`, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, false, "cross_origin"},
		{"no origin at all", `{"token":"` + token + `"}`, nil, 403, false, "cross_origin"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := do(t, "POST", srv.URL+"/console/login", tc.body, tc.header)
			body := readAll(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.wantCode != "" && !strings.Contains(body, `"code":"`+tc.wantCode+`"`) {
				t.Errorf("body = %s, want code %s", body, tc.wantCode)
			}
			var got *http.Cookie
			for _, c := range resp.Cookies() {
				if c.Name == console.CookieName {
					got = c
				}
			}
			if (got != nil) != tc.wantCookie {
				t.Fatalf("cookie set = %v, want %v", got != nil, tc.wantCookie)
			}
			if got == nil {
				return
			}
			if !got.HttpOnly || got.SameSite != http.SameSiteStrictMode || got.Path != "/" || got.MaxAge <= 0 {
				t.Errorf("cookie = %+v, want HttpOnly, SameSite=Strict, Path=/ and a max age", got)
			}
			if strings.Contains(got.Value, token) {
				t.Error("the cookie carries the token itself")
			}
		})
	}
}

func TestSessionAndLogout(t *testing.T) {
	l := openLog(t)
	_, srv := serve(t, console.Config{Token: token, Log: l})
	_, open := serve(t, console.Config{Log: l})
	cookie := login(t, srv)
	session := func(srv *httptest.Server, header map[string]string, cookies ...*http.Cookie) (s struct {
		AuthRequired  bool `json:"auth_required"`
		Authenticated bool `json:"authenticated"`
	}) {
		t.Helper()
		body := readAll(t, do(t, "GET", srv.URL+"/console/session", "", header, cookies...)) //nolint:bodyclose // readAll closes it
		if err := json.Unmarshal([]byte(body), &s); err != nil {
			t.Fatalf("session body %q: %v", body, err)
		}
		return s
	}
	tests := []struct {
		name          string
		srv           *httptest.Server
		header        map[string]string
		cookies       []*http.Cookie
		required, yes bool
	}{
		{"no token configured", open, nil, nil, false, true},
		{"anonymous", srv, nil, nil, true, false},
		{"cookie", srv, nil, []*http.Cookie{cookie}, true, true},
		{"bearer", srv, map[string]string{"Authorization": "Bearer " + token}, nil, true, true},
		{"wrong bearer", srv, map[string]string{"Authorization": "Bearer x"}, nil, true, false},
		{"forged cookie", srv, nil, []*http.Cookie{{Name: console.CookieName, Value: "v1.9999999999.AAAA"}}, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := session(tc.srv, tc.header, tc.cookies...)
			if s.AuthRequired != tc.required || s.Authenticated != tc.yes {
				t.Errorf("session = %+v, want auth_required=%v authenticated=%v", s, tc.required, tc.yes)
			}
		})
	}

	t.Run("logout clears the cookie", func(t *testing.T) {
		cross := do(t, "POST", srv.URL+"/console/logout", "", map[string]string{"Origin": "http://evil.test"}, cookie)
		readAll(t, cross)
		if cross.StatusCode != 403 {
			t.Errorf("cross-origin logout: status %d, want 403", cross.StatusCode)
		}
		resp := do(t, "POST", srv.URL+"/console/logout", "", map[string]string{"Origin": srv.URL}, cookie)
		readAll(t, resp)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("status = %d", resp.StatusCode)
		}
		cleared := false
		for _, c := range resp.Cookies() {
			cleared = cleared || (c.Name == console.CookieName && c.MaxAge < 0)
		}
		if !cleared {
			t.Error("logout did not clear the cookie")
		}
	})
}

func TestAssets(t *testing.T) {
	l := openLog(t)
	_, srv := serve(t, console.Config{Token: token, Log: l})
	tests := []struct {
		path, contentType string
		status            int
		contains          string
	}{
		{"/console/", "text/html", 200, `<script src="/console/assets/app.js"`},
		{"/console/assets/app.js", "javascript", 200, "EventSource('/console/stream')"},
		{"/console/assets/style.css", "text/css", 200, ".badge"},
		{"/console/assets/nope.js", "application/json", 404, `"code":"not_found"`},
		{"/console/assets/index.html", "application/json", 404, `"code":"not_found"`},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			resp := do(t, "GET", srv.URL+tc.path, "", nil)
			body := readAll(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.status)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, tc.contentType) {
				t.Errorf("content type %q, want %q", ct, tc.contentType)
			}
			if !strings.Contains(body, tc.contains) {
				t.Errorf("body does not contain %q", tc.contains)
			}
			if tc.status == 200 {
				if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
					t.Errorf("CSP = %q", csp)
				}
				// No CDN: the console loads nothing from elsewhere.
				for _, bad := range []string{"http://", "https://", "//cdn"} {
					if strings.Contains(body, bad) {
						t.Errorf("asset references %q", bad)
					}
				}
			}
		})
	}
	t.Run("/console redirects", func(t *testing.T) {
		resp := do(t, "GET", srv.URL+"/console", "", nil)
		readAll(t, resp)
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/console/" {
			t.Errorf("status %d location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

// sse reads server-sent events.
type sse struct {
	r    *bufio.Reader
	body io.Closer
}

type sseMsg struct {
	id, event string
	data      console.EventSummary
}

// next returns the next message with data, or an error (EOF when the stream ends).
func (s *sse) next() (sseMsg, error) {
	var m sseMsg
	var data string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return m, err
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if data != "" {
				if err := json.Unmarshal([]byte(data), &m.data); err != nil {
					return m, err
				}
				return m, nil
			}
		case strings.HasPrefix(line, "id: "):
			m.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			m.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		}
	}
}

func openStream(t *testing.T, ctx context.Context, srv *httptest.Server, header map[string]string, cookies ...*http.Cookie) (*sse, int) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/console/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		readAll(t, resp)
		return nil, resp.StatusCode
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("content type %q", ct)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return &sse{r: bufio.NewReader(resp.Body), body: resp.Body}, resp.StatusCode
}

func TestStream(t *testing.T) {
	l := openLog(t)
	var seqs []uint64
	for _, id := range []string{"a", "b", "c"} {
		seqs = append(seqs, appendEvent(t, l, id))
	}
	c, srv := serve(t, console.Config{Token: token, Log: l, Backlog: 2, Heartbeat: 50 * time.Millisecond})
	cookie := login(t, srv)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	t.Run("refused without a session", func(t *testing.T) {
		for _, h := range []map[string]string{nil, {"Authorization": "Bearer wrong"}} {
			if _, code := openStream(t, ctx, srv, h); code != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", code)
			}
		}
	})

	expect := func(t *testing.T, s *sse, ids ...string) {
		t.Helper()
		for _, want := range ids {
			m, err := s.next()
			if err != nil {
				t.Fatalf("waiting for %s: %v", want, err)
			}
			if m.event != "event" || m.data.ID != want || m.id != strconv.FormatUint(m.data.Seq, 10) {
				t.Fatalf("got %+v, want event %s", m, want)
			}
			if m.data.Type != "hasura.public.users.insert" || m.data.Source != "hasura" || m.data.ReceivedTime == "" {
				t.Errorf("summary %+v", m.data)
			}
		}
	}

	t.Run("backlog then live", func(t *testing.T) {
		s, code := openStream(t, ctx, srv, nil, cookie)
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		expect(t, s, "b", "c") // the last two (Backlog)
		appendEvent(t, l, "d")
		expect(t, s, "d")
	})

	t.Run("resume after Last-Event-ID, with the bearer token", func(t *testing.T) {
		s, code := openStream(t, ctx, srv, map[string]string{
			"Last-Event-ID": strconv.FormatUint(seqs[0], 10), "Authorization": "Bearer " + token,
		})
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		expect(t, s, "b", "c", "d")
	})

	t.Run("close ends streams and refuses new ones", func(t *testing.T) {
		s, code := openStream(t, ctx, srv, nil, cookie)
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		expect(t, s, "c", "d")
		done := make(chan struct{})
		go func() { c.Close(); close(done) }()
		for {
			if _, err := s.next(); err != nil {
				break // the server ended the stream
			}
		}
		select {
		case <-done:
		case <-ctx.Done():
			t.Fatal("Close did not return")
		}
		if _, code := openStream(t, ctx, srv, nil, cookie); code != http.StatusServiceUnavailable {
			t.Errorf("after Close: status %d, want 503", code)
		}
	})
}

// An empty log streams nothing until the first event, which then arrives live.
func TestStreamEmptyLog(t *testing.T) {
	l := openLog(t)
	_, srv := serve(t, console.Config{Log: l})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, code := openStream(t, ctx, srv, nil)
	if code != 200 {
		t.Fatalf("status %d (no token configured: open)", code)
	}
	appendEvent(t, l, "first")
	m, err := s.next()
	if err != nil || m.data.ID != "first" || m.data.Seq != 1 {
		t.Fatalf("got %+v, %v", m, err)
	}
}

// Issue 17: behind a TLS-terminating proxy the session cookie lacked Secure;
// an https HOOKMESH_PUBLIC_URL sets it (as does a request over TLS).
func TestSecureCookie(t *testing.T) {
	l := openLog(t)
	for _, tc := range []struct {
		publicURL string
		secure    bool
	}{
		{"", false},
		{"http://127.0.0.1:8090", false},
		{"https://hooks.example.com", true},
		{"HTTPS://hooks.example.com/base", true},
	} {
		t.Run(tc.publicURL, func(t *testing.T) {
			_, srv := serve(t, console.Config{Token: token, Log: l, PublicURL: tc.publicURL})
			if c := login(t, srv); c.Secure != tc.secure {
				t.Errorf("login cookie Secure = %v, want %v", c.Secure, tc.secure)
			}
			resp := do(t, "POST", srv.URL+"/console/logout", "", map[string]string{"Origin": srv.URL}) //nolint:bodyclose // readAll closes it
			readAll(t, resp)
			for _, c := range resp.Cookies() {
				if c.Name == console.CookieName && c.Secure != tc.secure {
					t.Errorf("logout cookie Secure = %v, want %v", c.Secure, tc.secure)
				}
			}
		})
	}
	if _, err := console.New(console.Config{Log: l, PublicURL: "ftp://x"}); err == nil {
		t.Error("an ftp public URL was accepted")
	}
	// Over TLS the cookie is Secure without a public URL.
	c, err := console.New(console.Config{Token: token, Log: l})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Mount(mux)
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(func() { c.Close(); srv.Close() })
	req, _ := http.NewRequest("POST", srv.URL+"/console/login", strings.NewReader(`{"token":"`+token+`"}`))
	req.Header.Set("Origin", srv.URL)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	secure := false
	for _, ck := range resp.Cookies() {
		secure = secure || (ck.Name == console.CookieName && ck.Secure)
	}
	if !secure {
		t.Error("login over TLS: cookie not Secure")
	}
}
