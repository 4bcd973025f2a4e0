// Package smtp is the SMTP transport: a real SMTP conversation over net/smtp
// with STARTTLS (required, opportunistic or off), implicit TLS (smtps://),
// AUTH PLAIN, and a deadline on each message; connections are reused between
// messages (RSET first; one that saw an error is closed).
package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookmesh/hookmesh/services/email/internal/email"
)

// TLSMode says when to use STARTTLS.
type TLSMode string

// STARTTLS modes (the starttls query parameter of SMTP_URL).
const (
	// TLSRequired fails the send when the server does not offer STARTTLS.
	TLSRequired TLSMode = "required"
	// TLSOpportunistic upgrades when the server offers STARTTLS (the default).
	TLSOpportunistic TLSMode = "opportunistic"
	// TLSOff never upgrades; it also allows AUTH over a plain connection.
	TLSOff TLSMode = "off"
)

// Config configures the transport.
type Config struct {
	// Addr is host:port of the server.
	Addr     string
	Username string
	Password string
	// StartTLS defaults to TLSOpportunistic; ignored with ImplicitTLS.
	StartTLS TLSMode
	// ImplicitTLS speaks TLS from the first byte (smtps://, port 465).
	ImplicitTLS bool
	// TLS is the client TLS config (roots, server name); default system roots
	// and the host of Addr.
	TLS *tls.Config
	// Timeout bounds one whole conversation, dial included (default 30s); the
	// context's deadline wins when it is earlier.
	Timeout time.Duration
	// Helo is the name sent in EHLO (default: this host's name).
	Helo string
	// RetryAfter is suggested after a 4xx reply (default 60s, greylisting) and
	// ConnRetryAfter after a connection failure (default 5s).
	RetryAfter     time.Duration
	ConnRetryAfter time.Duration
	// MaxIdle connections are kept open between messages (default 8; negative:
	// one connection per message), each for at most IdleTimeout (default 30s, below
	// the 5 minutes RFC 5321 lets a server wait).
	MaxIdle     int
	IdleTimeout time.Duration
}

// ParseURL reads SMTP_URL: smtp://user:pass@host:port?starttls=required|opportunistic|off
// (port 25 by default), or smtps://… for implicit TLS (port 465). Optional
// parameters: timeout (a Go duration) and helo.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Config{}, fmt.Errorf("SMTP_URL: %w", err)
	}
	var cfg Config
	port := "25"
	switch u.Scheme {
	case "smtp":
	case "smtps":
		cfg.ImplicitTLS, port = true, "465"
	default:
		return Config{}, fmt.Errorf("SMTP_URL: scheme %q: want smtp or smtps", u.Scheme)
	}
	if u.Hostname() == "" {
		return Config{}, errors.New("SMTP_URL: no host")
	}
	if u.Port() != "" {
		port = u.Port()
	}
	cfg.Addr = net.JoinHostPort(u.Hostname(), port)
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
	}
	q := u.Query()
	for k := range q {
		if !slices.Contains([]string{"starttls", "timeout", "helo"}, k) {
			return Config{}, fmt.Errorf("SMTP_URL: unknown parameter %q", k)
		}
	}
	cfg.StartTLS = TLSMode(q.Get("starttls"))
	if v := q.Get("timeout"); v != "" {
		if cfg.Timeout, err = time.ParseDuration(v); err != nil {
			return Config{}, fmt.Errorf("SMTP_URL: timeout: %w", err)
		}
	}
	cfg.Helo = q.Get("helo")
	return cfg, nil
}

// Validate checks a config after defaults are filled.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("smtp address: %w", err)
	}
	switch c.StartTLS {
	case TLSRequired, TLSOpportunistic, TLSOff:
	default:
		return fmt.Errorf("smtp starttls %q: want required, opportunistic or off", c.StartTLS)
	}
	if c.Timeout <= 0 || c.RetryAfter <= 0 || c.ConnRetryAfter <= 0 {
		return errors.New("smtp timeouts must be positive")
	}
	if c.Password != "" && c.Username == "" {
		return errors.New("smtp password without user")
	}
	return nil
}

// Transport sends over SMTP, reusing up to MaxIdle connections between messages.
type Transport struct {
	cfg  Config
	host string
	idle chan *session
}

// New fills defaults and validates cfg.
func New(cfg Config) (*Transport, error) {
	if cfg.StartTLS == "" {
		cfg.StartTLS = TLSOpportunistic
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = time.Minute
	}
	if cfg.ConnRetryAfter == 0 {
		cfg.ConnRetryAfter = 5 * time.Second
	}
	if cfg.MaxIdle == 0 {
		cfg.MaxIdle = 8
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	if cfg.Helo == "" {
		if h, err := os.Hostname(); err == nil && h != "" {
			cfg.Helo = h
		} else {
			cfg.Helo = "localhost"
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(cfg.Addr)
	return &Transport{cfg: cfg, host: host, idle: make(chan *session, max(cfg.MaxIdle, 0))}, nil
}

// Name implements email.Transport.
func (t *Transport) Name() string { return "smtp" }

// Error is a failed SMTP step. It is email.ErrRejected for a 5xx reply (or a
// configuration the server cannot satisfy) and email.ErrUnavailable otherwise.
type Error struct {
	// Stage is the command that failed, e.g. "RCPT".
	Stage string
	// Code is the SMTP reply code, 0 when there was no reply.
	Code      int
	Err       error
	permanent bool
}

// Error implements error.
func (e *Error) Error() string { return "smtp " + e.Stage + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// SMTPCode is the reply code (for logs, without the reply text).
func (e *Error) SMTPCode() int { return e.Code }

// Is maps the error onto the domain errors.
func (e *Error) Is(target error) bool {
	return (e.permanent && target == email.ErrRejected) || (!e.permanent && target == email.ErrUnavailable)
}

// fail classifies err at stage.
func (t *Transport) fail(stage string, err error) error {
	var own *Error
	if errors.As(err, &own) && own.permanent {
		return own
	}
	var tp *textproto.Error
	if errors.As(err, &tp) {
		e := &Error{Stage: stage, Code: tp.Code, Err: err, permanent: tp.Code >= 500}
		if e.permanent {
			return e
		}
		return email.Retry(t.cfg.RetryAfter, e)
	}
	return email.Retry(t.cfg.ConnRetryAfter, &Error{Stage: stage, Err: err})
}

func (t *Transport) refuse(stage, why string) error {
	return &Error{Stage: stage, Err: errors.New(why), permanent: true}
}

// session is an open, greeted (and authenticated) SMTP connection.
type session struct {
	conn net.Conn
	c    *smtp.Client
	idle time.Time // when it went back to the pool
}

func (s *session) close() {
	_ = s.c.Close()
	_ = s.conn.Close()
}

// Send implements email.Transport: MAIL/RCPT/DATA on an idle connection of the
// pool (checked with RSET) or a new one. Once the server accepted the data, the
// send has succeeded whatever happens to the connection after. A connection that
// saw any error is closed, never reused.
func (t *Transport) Send(ctx context.Context, env email.Envelope) error {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	defer cancel()
	s := t.reuse(ctx)
	if s == nil {
		var err error
		if s, err = t.open(ctx); err != nil {
			return err
		}
	}
	// Every read and write stops at the deadline, and at once when ctx ends.
	if dl, ok := ctx.Deadline(); ok {
		_ = s.conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = s.conn.SetDeadline(time.Unix(1, 0)) })
	if err := t.deliver(s.c, env); err != nil {
		stop()
		s.close()
		return err
	}
	if !stop() { // ctx ended meanwhile: the connection's deadline is spent
		s.close()
		return nil
	}
	_ = s.conn.SetDeadline(time.Time{})
	t.release(s)
	return nil
}

// reuse takes an idle connection that still answers RSET, or returns nil.
func (t *Transport) reuse(ctx context.Context) *session {
	for {
		var s *session
		select {
		case s = <-t.idle:
		default:
			return nil
		}
		if time.Since(s.idle) > t.cfg.IdleTimeout {
			_ = s.c.Quit()
			s.close()
			continue
		}
		dl := time.Now().Add(5 * time.Second)
		if d, ok := ctx.Deadline(); ok && d.Before(dl) {
			dl = d
		}
		_ = s.conn.SetDeadline(dl)
		if err := s.c.Reset(); err != nil {
			s.close() // the server closed it meanwhile: nothing of this message was sent
			continue
		}
		return s
	}
}

// release keeps s for the next send, or says goodbye when the pool is full.
func (t *Transport) release(s *session) {
	s.idle = time.Now()
	select {
	case t.idle <- s:
	default:
		_ = s.c.Quit()
		s.close()
	}
}

// Close says goodbye on the idle connections.
func (t *Transport) Close() error {
	for {
		select {
		case s := <-t.idle:
			_ = s.conn.SetDeadline(time.Now().Add(time.Second))
			_ = s.c.Quit()
			s.close()
		default:
			return nil
		}
	}
}

// open dials, greets, upgrades to TLS and authenticates as configured.
func (t *Transport) open(ctx context.Context) (_ *session, err error) {
	d := net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", t.cfg.Addr)
	if err != nil {
		return nil, t.fail("connect", err)
	}
	defer func() {
		if err != nil {
			_ = conn.Close()
		}
	}()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	tlsCfg := t.tlsConfig()
	if t.cfg.ImplicitTLS {
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, t.fail("tls", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, t.host)
	if err != nil {
		return nil, t.fail("greeting", err)
	}
	if err := t.greet(c, tlsCfg); err != nil {
		_ = c.Close()
		return nil, err
	}
	return &session{conn: conn, c: c}, nil
}

// greet sends EHLO, STARTTLS and AUTH as configured.
func (t *Transport) greet(c *smtp.Client, tlsCfg *tls.Config) error {
	if err := c.Hello(t.cfg.Helo); err != nil {
		return t.fail("EHLO", err)
	}
	secure := t.cfg.ImplicitTLS
	if !secure && t.cfg.StartTLS != TLSOff {
		offered, _ := c.Extension("STARTTLS")
		switch {
		case offered:
			if err := c.StartTLS(tlsCfg); err != nil {
				return t.fail("STARTTLS", err)
			}
			secure = true
		case t.cfg.StartTLS == TLSRequired:
			return t.refuse("STARTTLS", "server does not offer STARTTLS (starttls=required)")
		}
	}
	if t.cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return t.refuse("AUTH", "server does not offer AUTH")
		}
		if !secure && t.cfg.StartTLS != TLSOff {
			return t.refuse("AUTH", "refusing to send credentials without TLS (set starttls=off to allow)")
		}
		if err := c.Auth(plainAuth{user: t.cfg.Username, pass: t.cfg.Password}); err != nil {
			return t.fail("AUTH", err)
		}
	}
	return nil
}

// deliver is one message: MAIL, RCPT per recipient, DATA.
func (t *Transport) deliver(c *smtp.Client, env email.Envelope) error {
	if err := c.Mail(env.From); err != nil {
		return t.fail("MAIL", err)
	}
	for _, rcpt := range env.To {
		if err := c.Rcpt(rcpt); err != nil {
			return t.fail("RCPT", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return t.fail("DATA", err)
	}
	if _, err := w.Write(env.Raw); err != nil {
		return t.fail("DATA", err)
	}
	if err := w.Close(); err != nil {
		// No reply to the final "." is the window: the server may have stored it.
		return t.fail("DATA end", err)
	}
	return nil
}

func (t *Transport) tlsConfig() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.cfg.TLS != nil {
		cfg = t.cfg.TLS.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = t.host
	}
	return cfg
}

// plainAuth is AUTH PLAIN (RFC 4616). Whether the connection may carry the
// credentials is decided by Send, which knows the configured TLS mode.
type plainAuth struct{ user, pass string }

func (a plainAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !slices.ContainsFunc(server.Auth, func(m string) bool { return strings.EqualFold(m, "PLAIN") }) {
		return "", nil, &Error{Stage: "AUTH", Err: fmt.Errorf("server offers %s, not PLAIN", strconv.Quote(strings.Join(server.Auth, " "))), permanent: true}
	}
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.pass), nil
}

func (a plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected server challenge")
	}
	return nil, nil
}
