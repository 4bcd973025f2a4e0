// Package smtptest is a small but real SMTP server for tests: it listens on a
// loopback port 0, speaks the protocol (EHLO/HELO, STARTTLS, AUTH PLAIN, MAIL,
// RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT), records every accepted
// message byte for byte, and can inject 4xx/5xx replies or dropped connections
// at any stage.
package smtptest

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Stage names the point of a conversation where a fault can be injected.
type Stage string

// Stages.
const (
	StageGreeting Stage = "GREETING"
	StageEHLO     Stage = "EHLO"
	StageAuth     Stage = "AUTH"
	StageMail     Stage = "MAIL"
	StageRcpt     Stage = "RCPT"
	StageData     Stage = "DATA"     // the reply to the DATA command
	StageDataEnd  Stage = "DATA_END" // the reply after the final "."
)

// Config configures a Server.
type Config struct {
	// Users enables AUTH PLAIN with these user → password pairs.
	Users map[string]string
	// RequireAuth answers 530 to MAIL before a successful AUTH.
	RequireAuth bool
	// TLS enables STARTTLS with this server config.
	TLS *tls.Config
	// RequireTLS answers 530 to MAIL (and AUTH) before STARTTLS.
	RequireTLS bool
	// ImplicitTLS speaks TLS from the first byte (smtps) with the TLS config.
	ImplicitTLS bool
}

// Message is one accepted message.
type Message struct {
	From string
	To   []string
	// Data is the message exactly as sent, after dot-unstuffing (CRLF kept).
	Data []byte
	// User is the authenticated user, if any.
	User string
	// TLS reports whether the session ran over STARTTLS.
	TLS bool
}

type fault struct {
	stage Stage
	code  int
	text  string
	drop  bool
}

// Server is a running SMTP server.
type Server struct {
	// Addr is host:port of the listener.
	Addr string

	cfg Config
	lis net.Listener
	wg  sync.WaitGroup

	mu       sync.Mutex
	msgs     []Message
	faults   []fault
	sessions int
	notify   chan struct{}
}

// Start starts a server on 127.0.0.1:0 and stops it when the test ends.
func Start(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("smtptest: listen: %v", err)
	}
	s := &Server{Addr: lis.Addr().String(), cfg: cfg, lis: lis, notify: make(chan struct{}, 1)}
	s.wg.Add(1)
	go s.accept()
	tb.Cleanup(s.Close)
	return s
}

// Close stops the listener and waits for open sessions.
func (s *Server) Close() {
	_ = s.lis.Close()
	s.wg.Wait()
}

// Fail makes the next time a session reaches stage answer code and text instead
// (one-shot; queued faults apply in order).
func (s *Server) Fail(stage Stage, code int, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{stage: stage, code: code, text: text})
}

// Drop makes the next time a session reaches stage close the connection without
// a reply (one-shot). Dropping at StageDataEnd after reading the data models a
// server that stored the message but whose reply was lost.
func (s *Server) Drop(stage Stage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{stage: stage, drop: true})
}

// Messages returns the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Sessions is the number of connections accepted so far.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// WaitMessages waits until at least n messages arrived (liveness deadline, not
// a timing assertion) and returns them all.
func (s *Server) WaitMessages(tb testing.TB, n int) []Message {
	tb.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if msgs := s.Messages(); len(msgs) >= n {
			return msgs
		}
		select {
		case <-s.notify:
		case <-deadline:
			tb.Fatalf("smtptest: %d messages arrived, want %d", len(s.Messages()), n)
		}
	}
}

func (s *Server) takeFault(stage Stage) (fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.stage == stage {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			return f, true
		}
	}
	return fault{}, false
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.lis.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.sessions++
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { _ = c.Close() }()
			ss := &session{srv: s, conn: c}
			if s.cfg.ImplicitTLS {
				tc := tls.Server(c, s.cfg.TLS)
				_ = tc.SetDeadline(time.Now().Add(30 * time.Second))
				if tc.Handshake() != nil {
					return
				}
				ss.conn, ss.tls = tc, true
			}
			ss.run()
		}()
	}
}

// errDrop ends a session without a reply.
var errDrop = errors.New("drop")

type session struct {
	srv  *Server
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer

	tls   bool
	user  string
	from  string
	to    []string
	hello bool
}

func (ss *session) reply(code int, lines ...string) error {
	for i, l := range lines {
		sep := " "
		if i < len(lines)-1 {
			sep = "-"
		}
		if _, err := fmt.Fprintf(ss.w, "%d%s%s\r\n", code, sep, l); err != nil {
			return err
		}
	}
	return ss.w.Flush()
}

// injected answers an injected fault at stage, if one is queued; handled is
// true when the normal reply must not be sent.
func (ss *session) injected(stage Stage) (handled bool, err error) {
	f, ok := ss.srv.takeFault(stage)
	if !ok {
		return false, nil
	}
	if f.drop {
		return true, errDrop
	}
	return true, ss.reply(f.code, f.text)
}

func (ss *session) readLine() (string, error) {
	_ = ss.conn.SetDeadline(time.Now().Add(30 * time.Second))
	line, err := ss.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func (ss *session) run() {
	ss.r, ss.w = bufio.NewReader(ss.conn), bufio.NewWriter(ss.conn)
	if handled, _ := ss.injected(StageGreeting); handled {
		return // the fault's reply (if any) was sent; hang up like a busy server
	}
	if ss.reply(220, "smtptest ESMTP ready") != nil {
		return
	}
	for {
		line, err := ss.readLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		if err := ss.command(strings.ToUpper(verb), arg); err != nil {
			return
		}
	}
}

// command handles one command; an error ends the session.
func (ss *session) command(verb, arg string) error {
	cfg := ss.srv.cfg
	switch verb {
	case "EHLO", "HELO":
		if handled, err := ss.injected(StageEHLO); handled {
			return err
		}
		ss.hello = true
		ss.reset()
		if verb == "HELO" {
			return ss.reply(250, "smtptest")
		}
		lines := []string{"smtptest", "8BITMIME", "PIPELINING"}
		if cfg.TLS != nil && !ss.tls && !cfg.ImplicitTLS {
			lines = append(lines, "STARTTLS")
		}
		if cfg.Users != nil && (ss.tls || !cfg.RequireTLS) {
			lines = append(lines, "AUTH PLAIN")
		}
		return ss.reply(250, lines...)
	case "STARTTLS":
		if cfg.TLS == nil || ss.tls {
			return ss.reply(502, "5.5.1 STARTTLS not available")
		}
		if err := ss.reply(220, "2.0.0 ready to start TLS"); err != nil {
			return err
		}
		tc := tls.Server(ss.conn, cfg.TLS)
		_ = tc.SetDeadline(time.Now().Add(30 * time.Second))
		if err := tc.Handshake(); err != nil {
			return err
		}
		ss.conn, ss.tls, ss.hello = tc, true, false
		ss.r, ss.w = bufio.NewReader(tc), bufio.NewWriter(tc)
		ss.reset()
		return nil
	case "AUTH":
		return ss.auth(arg)
	case "MAIL":
		if !ss.hello {
			return ss.reply(503, "5.5.1 EHLO first")
		}
		if cfg.RequireTLS && !ss.tls {
			return ss.reply(530, "5.7.0 must issue STARTTLS first")
		}
		if cfg.RequireAuth && ss.user == "" {
			return ss.reply(530, "5.7.0 authentication required")
		}
		if handled, err := ss.injected(StageMail); handled {
			return err
		}
		addr, ok := pathArg(arg, "FROM:")
		if !ok {
			return ss.reply(501, "5.5.4 syntax: MAIL FROM:<address>")
		}
		ss.reset()
		ss.from = addr
		return ss.reply(250, "2.1.0 ok")
	case "RCPT":
		if ss.from == "" {
			return ss.reply(503, "5.5.1 MAIL first")
		}
		if handled, err := ss.injected(StageRcpt); handled {
			return err
		}
		addr, ok := pathArg(arg, "TO:")
		if !ok || addr == "" {
			return ss.reply(501, "5.5.4 syntax: RCPT TO:<address>")
		}
		ss.to = append(ss.to, addr)
		return ss.reply(250, "2.1.5 ok")
	case "DATA":
		if len(ss.to) == 0 {
			return ss.reply(503, "5.5.1 RCPT first")
		}
		if handled, err := ss.injected(StageData); handled {
			return err
		}
		if err := ss.reply(354, "end data with <CR><LF>.<CR><LF>"); err != nil {
			return err
		}
		data, err := ss.readData()
		if err != nil {
			return err
		}
		if handled, err := ss.injected(StageDataEnd); handled {
			if errors.Is(err, errDrop) {
				// Stored, but the reply never reaches the client.
				ss.store(data)
			}
			return err
		}
		ss.store(data)
		ss.reset()
		return ss.reply(250, "2.0.0 queued")
	case "RSET":
		ss.reset()
		return ss.reply(250, "2.0.0 ok")
	case "NOOP":
		return ss.reply(250, "2.0.0 ok")
	case "QUIT":
		_ = ss.reply(221, "2.0.0 bye")
		return errDrop
	default:
		return ss.reply(502, "5.5.2 command not recognised")
	}
}

func (ss *session) auth(arg string) error {
	cfg := ss.srv.cfg
	if cfg.Users == nil {
		return ss.reply(502, "5.5.1 AUTH not available")
	}
	if cfg.RequireTLS && !ss.tls {
		return ss.reply(530, "5.7.0 must issue STARTTLS first")
	}
	mech, initial, _ := strings.Cut(arg, " ")
	if !strings.EqualFold(mech, "PLAIN") {
		return ss.reply(504, "5.5.4 unrecognised authentication type")
	}
	if handled, err := ss.injected(StageAuth); handled {
		return err
	}
	if initial == "" {
		if err := ss.reply(334, ""); err != nil {
			return err
		}
		line, err := ss.readLine()
		if err != nil {
			return err
		}
		initial = line
	}
	raw, err := base64.StdEncoding.DecodeString(initial)
	if err != nil {
		return ss.reply(501, "5.5.2 cannot decode response")
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 3 {
		return ss.reply(501, "5.5.2 malformed PLAIN response")
	}
	if pass, ok := cfg.Users[parts[1]]; !ok || pass != parts[2] {
		return ss.reply(535, "5.7.8 authentication credentials invalid")
	}
	ss.user = parts[1]
	return ss.reply(235, "2.7.0 authentication successful")
}

// readData reads a DATA body up to the lone ".", undoing dot-stuffing and
// keeping line ends as sent.
func (ss *session) readData() ([]byte, error) {
	var b []byte
	for {
		_ = ss.conn.SetDeadline(time.Now().Add(30 * time.Second))
		line, err := ss.r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		if line == ".\r\n" || line == ".\n" {
			return b, nil
		}
		b = append(b, strings.TrimPrefix(line, ".")...)
	}
}

func (ss *session) store(data []byte) {
	s := ss.srv
	s.mu.Lock()
	s.msgs = append(s.msgs, Message{From: ss.from, To: append([]string(nil), ss.to...), Data: data, User: ss.user, TLS: ss.tls})
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (ss *session) reset() {
	ss.from, ss.to = "", nil
}

// pathArg parses "FROM:<addr> PARAMS" / "TO:<addr>".
func pathArg(arg, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", false
	}
	rest := strings.TrimSpace(arg[len(prefix):])
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", false
	}
	return rest[1:end], true
}
