package smtp_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/services/email/internal/compose"
	"github.com/hookmesh/hookmesh/services/email/internal/email"
	"github.com/hookmesh/hookmesh/services/email/internal/smtp"
	"github.com/hookmesh/hookmesh/services/email/internal/smtp/smtptest"
)

func envelope(t *testing.T) email.Envelope {
	t.Helper()
	c, err := compose.New()
	if err != nil {
		t.Fatal(err)
	}
	key := email.MessageKey("hasura", "evt-1", email.KindWelcome)
	r, err := c.Render(email.Draft{
		Kind: email.KindWelcome,
		To:   []mail.Address{{Name: "Ada", Address: "ada@example.com"}, {Address: "bob@example.com"}},
		Data: email.WelcomeData{Name: "Ada", Email: "ada@example.com", UserID: "7"},
	}, email.Header{From: mail.Address{Address: "noreply@example.com"}, MessageID: key + "@example.com", Date: time.Unix(1700000000, 0).UTC()})
	if err != nil {
		t.Fatal(err)
	}
	// A line starting with "." exercises dot-stuffing end to end.
	raw := bytes.Replace(r.Raw, []byte("welcome aboard!"), []byte("welcome aboard!\r\n.leading dot"), 1)
	return email.Envelope{ID: key, MessageID: key + "@example.com", From: "noreply@example.com", To: []string{"ada@example.com", "bob@example.com"}, Raw: raw}
}

func newTransport(t *testing.T, cfg smtp.Config) *smtp.Transport {
	t.Helper()
	cfg.Helo = "test.local"
	tr, err := smtp.New(cfg)
	if err != nil {
		t.Fatalf("smtp.New: %v", err)
	}
	t.Cleanup(func() { _ = tr.Close() }) // before the server's cleanup, which waits for sessions
	return tr
}

func TestSendDelivers(t *testing.T) {
	serverTLS, clientTLS := smtptest.SelfSigned(t)
	users := map[string]string{"mailer": "s3cret"}
	for _, tc := range []struct {
		name     string
		server   smtptest.Config
		client   smtp.Config
		wantUser string
		wantTLS  bool
	}{
		{name: "plain", client: smtp.Config{StartTLS: smtp.TLSOff}},
		{name: "opportunistic without STARTTLS offered", client: smtp.Config{}},
		{name: "auth plain without tls when starttls=off", server: smtptest.Config{Users: users, RequireAuth: true},
			client: smtp.Config{StartTLS: smtp.TLSOff, Username: "mailer", Password: "s3cret"}, wantUser: "mailer"},
		{name: "starttls required with auth", server: smtptest.Config{Users: users, RequireAuth: true, TLS: serverTLS, RequireTLS: true},
			client: smtp.Config{StartTLS: smtp.TLSRequired, TLS: clientTLS, Username: "mailer", Password: "s3cret"}, wantUser: "mailer", wantTLS: true},
		{name: "starttls opportunistic upgrades", server: smtptest.Config{TLS: serverTLS},
			client: smtp.Config{TLS: clientTLS}, wantTLS: true},
		{name: "implicit tls", server: smtptest.Config{TLS: serverTLS, ImplicitTLS: true, Users: users},
			client: smtp.Config{ImplicitTLS: true, TLS: clientTLS, Username: "mailer", Password: "s3cret"}, wantUser: "mailer", wantTLS: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t, tc.server)
			tc.client.Addr = srv.Addr
			env := envelope(t)
			if err := newTransport(t, tc.client).Send(t.Context(), env); err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("server got %d messages", len(msgs))
			}
			got := msgs[0]
			if got.From != env.From || strings.Join(got.To, ",") != strings.Join(env.To, ",") {
				t.Errorf("envelope %s → %v", got.From, got.To)
			}
			if got.User != tc.wantUser || got.TLS != tc.wantTLS {
				t.Errorf("user %q tls %v, want %q %v", got.User, got.TLS, tc.wantUser, tc.wantTLS)
			}
			if !bytes.Equal(got.Data, env.Raw) {
				t.Errorf("data changed in transit:\n%s", got.Data)
			}
			checkMIME(t, got.Data, env.MessageID)
		})
	}
}

// checkMIME parses what arrived like a mail client would.
func checkMIME(t *testing.T, data []byte, messageID string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("read message: %v", err)
	}
	if got := m.Header.Get("Message-ID"); got != "<"+messageID+">" {
		t.Errorf("Message-ID %q", got)
	}
	to, err := m.Header.AddressList("To")
	if err != nil || len(to) != 2 || to[0].Address != "ada@example.com" || to[0].Name != "Ada" {
		t.Errorf("To %v (%v)", to, err)
	}
	if s := m.Header.Get("Subject"); s != "Welcome, Ada!" {
		t.Errorf("Subject %q", s)
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var parts []string
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(quotedprintable.NewReader(p))
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p.Header.Get("Content-Type"))
		if !strings.Contains(string(body), ".leading dot") && strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("dot-stuffed line lost: %q", body)
		}
	}
	if len(parts) != 2 || !strings.HasPrefix(parts[0], "text/plain") || !strings.HasPrefix(parts[1], "text/html") {
		t.Errorf("parts %v", parts)
	}
}

func TestSendFailures(t *testing.T) {
	serverTLS, clientTLS := smtptest.SelfSigned(t)
	_, otherTLS := smtptest.SelfSigned(t) // trusts a different certificate
	type want int
	const (
		wantRejected want = iota
		wantUnavailable
	)
	for _, tc := range []struct {
		name     string
		server   smtptest.Config
		client   smtp.Config
		inject   func(*smtptest.Server)
		want     want
		wantCode int
		stored   int // messages the server stored anyway
	}{
		{name: "greeting 421", inject: func(s *smtptest.Server) { s.Fail(smtptest.StageGreeting, 421, "4.3.2 busy") }, want: wantUnavailable, wantCode: 421},
		{name: "MAIL 451", inject: func(s *smtptest.Server) { s.Fail(smtptest.StageMail, 451, "4.3.0 try later") }, want: wantUnavailable, wantCode: 451},
		{name: "RCPT 450 greylisted", inject: func(s *smtptest.Server) { s.Fail(smtptest.StageRcpt, 450, "4.2.0 greylisted") }, want: wantUnavailable, wantCode: 450},
		{name: "RCPT 550 no such user", inject: func(s *smtptest.Server) { s.Fail(smtptest.StageRcpt, 550, "5.1.1 no such user") }, want: wantRejected, wantCode: 550},
		{name: "DATA 554", inject: func(s *smtptest.Server) { s.Fail(smtptest.StageData, 554, "5.7.1 no") }, want: wantRejected, wantCode: 554},
		{name: "end of DATA 452", inject: func(s *smtptest.Server) { s.Fail(smtptest.StageDataEnd, 452, "4.3.1 storage full") }, want: wantUnavailable, wantCode: 452},
		{name: "end of DATA 552", inject: func(s *smtptest.Server) { s.Fail(smtptest.StageDataEnd, 552, "5.3.4 too big") }, want: wantRejected, wantCode: 552},
		{name: "reply to DATA lost", inject: func(s *smtptest.Server) { s.Drop(smtptest.StageDataEnd) }, want: wantUnavailable, stored: 1},
		{name: "connection dropped at MAIL", inject: func(s *smtptest.Server) { s.Drop(smtptest.StageMail) }, want: wantUnavailable},
		{name: "auth 535", server: smtptest.Config{Users: map[string]string{"mailer": "right"}},
			client: smtp.Config{StartTLS: smtp.TLSOff, Username: "mailer", Password: "wrong"}, want: wantRejected, wantCode: 535},
		{name: "auth 454", server: smtptest.Config{Users: map[string]string{"mailer": "right"}},
			client: smtp.Config{StartTLS: smtp.TLSOff, Username: "mailer", Password: "right"},
			inject: func(s *smtptest.Server) { s.Fail(smtptest.StageAuth, 454, "4.7.0 temporary auth failure") }, want: wantUnavailable, wantCode: 454},
		{name: "auth not offered", client: smtp.Config{StartTLS: smtp.TLSOff, Username: "mailer", Password: "x"}, want: wantRejected},
		{name: "credentials refused without tls", server: smtptest.Config{Users: map[string]string{"mailer": "right"}},
			client: smtp.Config{Username: "mailer", Password: "right"}, want: wantRejected},
		{name: "starttls required, not offered", client: smtp.Config{StartTLS: smtp.TLSRequired}, want: wantRejected},
		{name: "starttls with untrusted certificate", server: smtptest.Config{TLS: serverTLS},
			client: smtp.Config{StartTLS: smtp.TLSRequired, TLS: otherTLS}, want: wantUnavailable},
		{name: "required auth without it", server: smtptest.Config{Users: map[string]string{"u": "p"}, RequireAuth: true, TLS: serverTLS},
			client: smtp.Config{TLS: clientTLS}, want: wantRejected, wantCode: 530},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t, tc.server)
			if tc.inject != nil {
				tc.inject(srv)
			}
			tc.client.Addr = srv.Addr
			err := newTransport(t, tc.client).Send(t.Context(), envelope(t))
			checkErr(t, err, tc.want == wantRejected, tc.wantCode)
			if n := len(srv.Messages()); n != tc.stored {
				t.Errorf("server stored %d messages, want %d", n, tc.stored)
			}
		})
	}
}

func checkErr(t *testing.T, err error, rejected bool, code int) {
	t.Helper()
	if err == nil {
		t.Fatal("Send succeeded")
	}
	if got := errors.Is(err, email.ErrRejected); got != rejected {
		t.Errorf("Is(ErrRejected) = %v, want %v: %v", got, rejected, err)
	}
	if got := errors.Is(err, email.ErrUnavailable); got == rejected {
		t.Errorf("Is(ErrUnavailable) = %v, want %v: %v", got, !rejected, err)
	}
	if !rejected && email.RetryAfter(err, 0) <= 0 {
		t.Errorf("temporary error without a retry delay: %v", err)
	}
	var se *smtp.Error
	if code != 0 && (!errors.As(err, &se) || se.SMTPCode() != code) {
		t.Errorf("SMTP code = %v, want %d: %v", se, code, err)
	}
}

func TestSendConnectionRefused(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	err = newTransport(t, smtp.Config{Addr: addr}).Send(t.Context(), envelope(t))
	checkErr(t, err, false, 0)
}

// TestSendHonoursDeadline: a server that accepts but never greets must not hold
// the send past the caller's deadline.
func TestSendHonoursDeadline(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lis.Close() }()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			defer func() { _ = c.Close() }() // silent until the test ends
		}
	}()
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		cfg  smtp.Config
	}{
		{"context deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(t.Context(), 200*time.Millisecond)
		}, smtp.Config{}},
		{"configured timeout", func() (context.Context, context.CancelFunc) { return t.Context(), func() {} },
			smtp.Config{Timeout: 200 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			tc.cfg.Addr = lis.Addr().String()
			done := make(chan error, 1)
			go func() { done <- newTransport(t, tc.cfg).Send(ctx, envelope(t)) }()
			select {
			case err := <-done:
				checkErr(t, err, false, 0)
			case <-time.After(20 * time.Second):
				t.Fatal("Send ignored its deadline")
			}
		})
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url     string
		want    smtp.Config
		wantErr bool
	}{
		{url: "smtp://mail.example.com", want: smtp.Config{Addr: "mail.example.com:25"}},
		{url: "smtp://user:p%40ss@mail.example.com:587?starttls=required",
			want: smtp.Config{Addr: "mail.example.com:587", Username: "user", Password: "p@ss", StartTLS: smtp.TLSRequired}},
		{url: "smtp://mailpit:1025?starttls=off&timeout=5s&helo=gw.local",
			want: smtp.Config{Addr: "mailpit:1025", StartTLS: smtp.TLSOff, Timeout: 5 * time.Second, Helo: "gw.local"}},
		{url: "smtps://u:p@[::1]", want: smtp.Config{Addr: "[::1]:465", Username: "u", Password: "p", ImplicitTLS: true}},
		{url: "http://mail.example.com", wantErr: true},
		{url: "smtp://", wantErr: true},
		{url: "smtp://h?starttls=maybe", wantErr: true},
		{url: "smtp://h?timeout=soon", wantErr: true},
		{url: "smtp://h?tls=1", wantErr: true},
		{url: "smtp://%zz", wantErr: true},
	} {
		t.Run(tc.url, func(t *testing.T) {
			got, err := smtp.ParseURL(tc.url)
			if err == nil {
				_, err = smtp.New(got)
			}
			if tc.wantErr {
				if err == nil {
					t.Fatalf("no error; got %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.TLS = nil
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// Sends reuse an idle connection (RSET between messages); a connection that saw
// an error is never reused; MaxIdle -1 is one connection per message.
func TestSendReusesConnections(t *testing.T) {
	serverTLS, clientTLS := smtptest.SelfSigned(t)
	srv := smtptest.Start(t, smtptest.Config{TLS: serverTLS, Users: map[string]string{"mailer": "s3cret"}, RequireAuth: true})
	tr := newTransport(t, smtp.Config{Addr: srv.Addr, TLS: clientTLS, Username: "mailer", Password: "s3cret"})
	ctx := t.Context()
	for i := range 3 {
		if err := tr.Send(ctx, envelope(t)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if got := srv.Sessions(); got != 1 {
		t.Errorf("3 sequential sends took %d connections, want 1", got)
	}
	srv.Fail(smtptest.StageRcpt, 451, "4.3.0 try later")
	if err := tr.Send(ctx, envelope(t)); err == nil {
		t.Fatal("send with a 451 at RCPT succeeded")
	}
	if err := tr.Send(ctx, envelope(t)); err != nil {
		t.Fatalf("send after a failure: %v", err)
	}
	if got := srv.Sessions(); got != 2 {
		t.Errorf("after a failed send: %d connections, want 2 (the failed one closed)", got)
	}
	if got := len(srv.Messages()); got != 4 {
		t.Errorf("%d messages accepted, want 4", got)
	}

	one := newTransport(t, smtp.Config{Addr: srv.Addr, TLS: clientTLS, Username: "mailer", Password: "s3cret", MaxIdle: -1})
	before := srv.Sessions()
	for range 2 {
		if err := one.Send(ctx, envelope(t)); err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.Sessions() - before; got != 2 {
		t.Errorf("MaxIdle -1: %d connections for 2 sends, want 2", got)
	}
}
