// Package console is hookmesh's web console at /console: a live list of events
// (server-sent events read from the event log through an ordered JetStream
// consumer), an event's deliveries and attempts, dead letters with replay, and
// subscriptions with pause and resume. The page talks to the REST API under /v1/;
// the assets are embedded (no CDN).
//
// When an admin token is set, the console exchanges it for an HttpOnly,
// SameSite=Strict session cookie (POST /console/login), which the live stream and,
// through Auth, the REST API accept; state-changing requests must be same-origin.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookmesh/hookmesh/platform/restgw"
)

//go:embed assets
var assets embed.FS

// Log is the part of the event log the live stream reads; *eventlog.Log fits.
type Log interface {
	JetStream() jetstream.JetStream
	Stream() string
	SubjectFilter() string
}

// Config configures the console.
type Config struct {
	// Token is HOOKMESH_ADMIN_TOKEN; empty means no login (loopback only).
	Token string
	// Log feeds the live stream (required).
	Log Log
	// Logger (default: discard).
	Logger *slog.Logger
	// Backlog is how many recent events a new stream starts with (default 50).
	Backlog int
	// Heartbeat is the interval of SSE keep-alive comments (default 15s).
	Heartbeat time.Duration
	// Now is the clock for sessions (default time.Now).
	Now func() time.Time
	// PublicURL (HOOKMESH_PUBLIC_URL) is where users reach the gateway; when
	// https (a TLS-terminating proxy in front), the session cookie is Secure
	// even though the request reached the gateway in plain HTTP.
	PublicURL string
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Log == nil:
		return errors.New("console: Log is required")
	case c.Backlog < 0 || c.Backlog > 1000:
		return errors.New("console: Backlog must be between 0 and 1000")
	case c.Heartbeat < 0:
		return errors.New("console: Heartbeat must not be negative")
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("console: HOOKMESH_PUBLIC_URL must be an http(s) URL")
		}
	}
	return nil
}

// Console serves /console.
type Console struct {
	cfg    Config
	static fs.FS

	mu      sync.Mutex // orders streams.Add against Close
	done    chan struct{}
	streams sync.WaitGroup
}

// New validates cfg and fills its defaults.
func New(cfg Config) (*Console, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Backlog == 0 {
		cfg.Backlog = 50
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, err
	}
	return &Console{cfg: cfg, static: static, done: make(chan struct{})}, nil
}

// Mount registers the console's routes on mux.
func (c *Console) Mount(mux *http.ServeMux) {
	mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
	mux.HandleFunc("GET /console/{$}", c.index)
	mux.HandleFunc("GET /console/assets/{file}", c.asset)
	mux.HandleFunc("GET /console/session", c.session)
	mux.HandleFunc("POST /console/login", c.login)
	mux.HandleFunc("POST /console/logout", c.logout)
	mux.HandleFunc("GET /console/stream", c.stream)
}

// Close ends every live stream (their clients reconnect elsewhere) and refuses new
// ones; register it with http.Server.RegisterOnShutdown so Shutdown need not wait
// for them.
func (c *Console) Close() {
	c.mu.Lock()
	if !c.closed() {
		close(c.done)
	}
	c.mu.Unlock()
	c.streams.Wait()
}

// track counts a live stream; false once the console is closed.
func (c *Console) track() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed() {
		return false
	}
	c.streams.Add(1)
	return true
}

// contentSecurity keeps the page to its own scripts, styles and API.
const contentSecurity = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurity)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

func (c *Console) index(w http.ResponseWriter, r *http.Request) {
	c.serveFile(w, r, "index.html")
}

func (c *Console) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if name == "index.html" || strings.Contains(name, "/") {
		restgw.WriteError(w, http.StatusNotFound, "not_found", "no such console asset")
		return
	}
	c.serveFile(w, r, name)
}

func (c *Console) serveFile(w http.ResponseWriter, r *http.Request, name string) {
	b, err := fs.ReadFile(c.static, name)
	if err != nil {
		restgw.WriteError(w, http.StatusNotFound, "not_found", "no such console asset")
		return
	}
	securityHeaders(w.Header())
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	// Assets are embedded in the binary: revalidate so an upgrade shows at once.
	w.Header().Set("Cache-Control", "no-cache")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(b)
}

// authorized reports whether r may use the console's own endpoints: no token is
// configured, or r carries a valid session cookie or the bearer token.
func (c *Console) authorized(r *http.Request) bool {
	if c.cfg.Token == "" {
		return true
	}
	if sessionOK(c.cfg.Token, r, c.cfg.Now()) {
		return true
	}
	scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	return ok && strings.EqualFold(scheme, "Bearer") && tokenMatches(c.cfg.Token, strings.TrimSpace(got))
}

type sessionInfo struct {
	AuthRequired  bool `json:"auth_required"`
	Authenticated bool `json:"authenticated"`
}

func (c *Console) session(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, sessionInfo{AuthRequired: c.cfg.Token != "", Authenticated: c.authorized(r)})
}

// maxLoginBody bounds the login body: a token, not a document.
const maxLoginBody = 8 << 10

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		restgw.WriteError(w, http.StatusForbidden, "cross_origin", "cross-origin request refused")
		return
	}
	var body struct {
		Token string `json:"token"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxLoginBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		restgw.WriteError(w, http.StatusBadRequest, "invalid_argument", `the body must be {"token": "…"}`)
		return
	}
	if c.cfg.Token == "" {
		writeJSON(w, http.StatusOK, sessionInfo{AuthRequired: false, Authenticated: true})
		return
	}
	if !tokenMatches(c.cfg.Token, body.Token) {
		c.cfg.Logger.WarnContext(r.Context(), "console login refused", "remote", r.RemoteAddr)
		restgw.WriteError(w, http.StatusUnauthorized, "unauthenticated", "wrong token")
		return
	}
	expires := c.cfg.Now().Add(SessionTTL)
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName,
		Value:    sessionValue(c.cfg.Token, expires),
		Path:     "/",
		Expires:  expires,
		MaxAge:   int(SessionTTL / time.Second),
		HttpOnly: true,
		Secure:   c.secureCookie(r),
		SameSite: http.SameSiteStrictMode,
	})
	writeJSON(w, http.StatusOK, sessionInfo{AuthRequired: true, Authenticated: true})
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		restgw.WriteError(w, http.StatusForbidden, "cross_origin", "cross-origin request refused")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: c.secureCookie(r), SameSite: http.SameSiteStrictMode,
	})
	w.WriteHeader(http.StatusNoContent)
}

// secureCookie: the request came over TLS, or the public URL is https (TLS
// ends at a proxy).
func (c *Console) secureCookie(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(strings.ToLower(c.cfg.PublicURL), "https://")
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		restgw.WriteError(w, http.StatusInternalServerError, "internal", "encoding failed")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// closed reports whether Close was called.
func (c *Console) closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// mergeDone is a context that also ends when the console closes.
func (c *Console) mergeDone(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
