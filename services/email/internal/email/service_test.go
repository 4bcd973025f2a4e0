package email_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/url"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/sqlstore"
	"github.com/hookmesh/hookmesh/platform/sqlstore/sqlstoretest"
	"github.com/hookmesh/hookmesh/services/email/internal/compose"
	"github.com/hookmesh/hookmesh/services/email/internal/email"
	"github.com/hookmesh/hookmesh/services/email/internal/smtp"
	"github.com/hookmesh/hookmesh/services/email/internal/smtp/smtptest"
	"github.com/hookmesh/hookmesh/services/email/internal/store"
)

// clock is a settable clock shared by the service and the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// finishFails is a store whose Finish fails once when armed: the process "dies"
// between the server accepting the data and the row being marked sent.
type finishFails struct {
	email.Store
	armed atomic.Bool
}

func (f *finishFails) Finish(ctx context.Context, c email.Claim, a email.Attempt) error {
	if f.armed.CompareAndSwap(true, false) {
		return errors.New("process died before recording the send")
	}
	return f.Store.Finish(ctx, c, a)
}

type fixture struct {
	db      *sqlstore.DB
	store   *store.Store
	smtp    *smtptest.Server
	clock   *clock
	reports *reports
	lease   time.Duration
}

func newFixture(t *testing.T, db *sqlstore.DB) *fixture {
	return &fixture{db: db, store: store.New(db), smtp: smtptest.Start(t, smtptest.Config{}),
		clock: &clock{t: now}, reports: &reports{figures: []email.Figure{{Label: "user_registered", Value: "5"}}}, lease: 30 * time.Second}
}

// service builds a service over the fixture's store (or st) talking SMTP to
// the fixture's server: a new one models a new process.
func (f *fixture) service(t *testing.T, st email.Store) *email.Service {
	t.Helper()
	if st == nil {
		st = f.store
	}
	tr, err := smtp.New(smtp.Config{Addr: f.smtp.Addr, StartTLS: smtp.TLSOff, Helo: "test", RetryAfter: 7 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Idle connections are pooled: close them before the SMTP server's cleanup waits for its sessions.
	t.Cleanup(func() { _ = tr.Close() })
	r, err := compose.New()
	if err != nil {
		t.Fatal(err)
	}
	svc, err := email.NewService(email.Config{
		From: mail.Address{Name: "Shop", Address: "noreply@shop.example"},
		Planner: &email.Planner{PublicURL: "http://127.0.0.1:8090", Tokens: tokens(t),
			ReportRecipients: []mail.Address{{Address: "ops@shop.example"}}, Reports: f.reports},
		Renderer: r, Store: st, Transport: tr, Lease: f.lease, Poll: 10 * time.Millisecond, Now: f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func welcomeEvent(t testing.TB, id string) *eventv1.Event {
	return userEvent(t, id, "insert", nil, map[string]any{"id": 42.0, "email": "ada@example.com", "name": "Ada <b>L</b>"})
}

func TestServiceDeliver(t *testing.T) {
	sqlstoretest.ForEachDialect(t, store.Migrations, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()

		t.Run("welcome over SMTP, once", func(t *testing.T) {
			f := newFixture(t, db)
			svc := f.service(t, nil)
			ev := welcomeEvent(t, "w-1")
			if out, err := svc.Deliver(ctx, ev); err != nil || out != email.Applied {
				t.Fatalf("Deliver = %v, %v", out, err)
			}
			for range 3 { // sender retries, replays
				if out, err := svc.Deliver(ctx, ev); err != nil || out != email.AlreadyDone {
					t.Fatalf("redelivery = %v, %v; want AlreadyDone", out, err)
				}
			}
			msgs := f.smtp.Messages()
			if len(msgs) != 1 {
				t.Fatalf("SMTP server got %d messages, want 1", len(msgs))
			}
			got := parseMail(t, msgs[0].Data)
			if msgs[0].From != "noreply@shop.example" || len(msgs[0].To) != 1 || msgs[0].To[0] != "ada@example.com" {
				t.Errorf("envelope %s → %v", msgs[0].From, msgs[0].To)
			}
			if got.subject != "Welcome, Ada <b>L</b>!" || got.header.Get("From") != `"Shop" <noreply@shop.example>` {
				t.Errorf("subject %q from %q", got.subject, got.header.Get("From"))
			}
			if !contains(got.html, "Hi Ada &lt;b&gt;L&lt;/b&gt;,") || !contains(got.text, "User id: 42") {
				t.Errorf("parts:\n%s\n%s", got.text, got.html)
			}
			wantID := email.MessageKey("hasura", "w-1", email.KindWelcome)
			if got.header.Get("Message-ID") != "<"+wantID+"@shop.example>" {
				t.Errorf("Message-ID %q", got.header.Get("Message-ID"))
			}
			m, err := f.store.Get(ctx, wantID)
			if err != nil || m.Status != email.StatusSent || m.Transport != "smtp" || m.Attempts != 1 || m.SentAt.IsZero() {
				t.Fatalf("row = %+v, %v", m, err)
			}
		})

		t.Run("racing deliveries send one message", func(t *testing.T) {
			f := newFixture(t, db)
			ev := welcomeEvent(t, "w-race")
			var (
				wg      sync.WaitGroup
				applied atomic.Int32
			)
			for i := range 6 {
				svc := f.service(t, nil) // some in one process, some in "others"
				if i%2 == 1 {
					svc = f.service(t, nil)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
					defer cancel()
					out, err := svc.Deliver(dctx, ev)
					if err != nil {
						t.Errorf("Deliver: %v", err)
					}
					if out == email.Applied {
						applied.Add(1)
					}
				}()
			}
			wg.Wait()
			if n := len(f.smtp.Messages()); n != 1 || applied.Load() != 1 {
				t.Fatalf("%d messages sent, %d deliveries applied; want 1 and 1", n, applied.Load())
			}
		})

		t.Run("4xx is temporary; the retry sends", func(t *testing.T) {
			f := newFixture(t, db)
			svc := f.service(t, nil)
			f.smtp.Fail(smtptest.StageRcpt, 451, "4.3.0 try again")
			ev := welcomeEvent(t, "w-4xx")
			_, err := svc.Deliver(ctx, ev)
			if !errors.Is(err, email.ErrUnavailable) || email.RetryAfter(err, 0) != 7*time.Second {
				t.Fatalf("Deliver = %v, want ErrUnavailable after 7s", err)
			}
			m, _ := f.store.Get(ctx, email.MessageKey("hasura", "w-4xx", email.KindWelcome))
			if m.Status != email.StatusFailed || !contains(m.FailureReason, "451") {
				t.Fatalf("row after 4xx = %+v", m)
			}
			if out, err := svc.Deliver(ctx, ev); err != nil || out != email.Applied {
				t.Fatalf("retry = %v, %v", out, err)
			}
			if n := len(f.smtp.Messages()); n != 1 {
				t.Fatalf("%d messages, want 1", n)
			}
		})

		t.Run("5xx is permanent; a replay tries again", func(t *testing.T) {
			f := newFixture(t, db)
			svc := f.service(t, nil)
			f.smtp.Fail(smtptest.StageDataEnd, 554, "5.7.1 rejected")
			ev := welcomeEvent(t, "w-5xx")
			if _, err := svc.Deliver(ctx, ev); !errors.Is(err, email.ErrRejected) {
				t.Fatalf("Deliver = %v, want ErrRejected", err)
			}
			m, _ := f.store.Get(ctx, email.MessageKey("hasura", "w-5xx", email.KindWelcome))
			if m.Status != email.StatusFailed || !contains(m.FailureReason, "554") {
				t.Fatalf("row after 5xx = %+v", m)
			}
			if out, err := svc.Deliver(ctx, ev); err != nil || out != email.Applied || len(f.smtp.Messages()) != 1 {
				t.Fatalf("replay = %v, %v, %d messages", out, err, len(f.smtp.Messages()))
			}
		})

		t.Run("connection refused is temporary", func(t *testing.T) {
			f := newFixture(t, db)
			f.smtp.Close()
			_, err := f.service(t, nil).Deliver(ctx, welcomeEvent(t, "w-down"))
			if !errors.Is(err, email.ErrUnavailable) {
				t.Fatalf("Deliver = %v, want ErrUnavailable", err)
			}
		})

		t.Run("no usable address records nothing", func(t *testing.T) {
			f := newFixture(t, db)
			ev := userEvent(t, "w-bad", "insert", nil, map[string]any{"id": 1.0, "email": "nope"})
			if _, err := f.service(t, nil).Deliver(ctx, ev); !errors.Is(err, email.ErrInvalid) {
				t.Fatalf("Deliver = %v, want ErrInvalid", err)
			}
			if msgs, _ := f.store.ForEvent(ctx, "hasura", "w-bad"); len(msgs) != 0 || len(f.smtp.Messages()) != 0 {
				t.Fatalf("recorded %d, sent %d", len(msgs), len(f.smtp.Messages()))
			}
		})

		t.Run("other events have no effect", func(t *testing.T) {
			f := newFixture(t, db)
			svc := f.service(t, nil)
			for _, ev := range []*eventv1.Event{
				{Id: "x", Source: "stripe", Type: "stripe.payment_intent.succeeded"},
				// A users row without an id: no message and nothing for the directory.
				userEvent(t, "n", "update", map[string]any{"email": "a@example.com", "name": "A"}, map[string]any{"email": "a@example.com", "name": "B"}),
			} {
				if out, err := svc.Deliver(ctx, ev); err != nil || out != email.Ignored {
					t.Errorf("%s: %v, %v; want Ignored", ev.GetType(), out, err)
				}
			}
			for _, ev := range []*eventv1.Event{{Type: "hasura.public.users.insert"}, {Id: "x", Type: "hasura.public.users.insert"}, nil} {
				if _, err := svc.Deliver(ctx, ev); !errors.Is(err, email.ErrInvalid) {
					t.Errorf("event without identity: %v, want ErrInvalid", err)
				}
			}
		})

		t.Run("verification link round trip", func(t *testing.T) {
			f := newFixture(t, db)
			svc := f.service(t, nil)
			ev := userEvent(t, "u-1", "update", map[string]any{"id": 7.0, "email": "old@example.com"}, map[string]any{"id": 7.0, "email": "new@example.com", "name": "Bo"})
			if _, err := svc.Deliver(ctx, ev); err != nil {
				t.Fatal(err)
			}
			msgs := f.smtp.Messages()
			if len(msgs) != 1 || msgs[0].To[0] != "new@example.com" {
				t.Fatalf("messages %v", msgs)
			}
			link := regexp.MustCompile(`http://127\.0\.0\.1:8090/v1/email/verify\?token=\S+`).FindString(parseMail(t, msgs[0].Data).text)
			u, err := url.Parse(link)
			if err != nil || link == "" {
				t.Fatalf("no link in the text part (%v)", err)
			}
			token := u.Query().Get("token")
			f.clock.Add(time.Hour)
			claims, at, err := svc.Verify(ctx, token)
			if err != nil || claims.UserID != "7" || claims.Email != "new@example.com" || !at.Equal(now.Add(time.Hour)) {
				t.Fatalf("Verify = %+v, %v, %v", claims, at, err)
			}
			if at2, ok, err := f.store.Verified(ctx, "7", "new@example.com"); err != nil || !ok || !at2.Equal(at) {
				t.Fatalf("not recorded: %v %v %v", at2, ok, err)
			}
			f.clock.Add(time.Hour) // used again: the first verification time stands
			if _, again, err := svc.Verify(ctx, token); err != nil || !again.Equal(at) {
				t.Fatalf("second Verify = %v, %v", again, err)
			}
			if _, _, err := svc.Verify(ctx, token+"x"); !errors.Is(err, email.ErrInvalid) {
				t.Errorf("tampered token: %v", err)
			}
			f.clock.Add(48 * time.Hour)
			if _, _, err := svc.Verify(ctx, token); !errors.Is(err, email.ErrExpired) {
				t.Errorf("expired token: %v", err)
			}
		})

		t.Run("daily report", func(t *testing.T) {
			f := newFixture(t, db)
			svc := f.service(t, nil)
			ev := cronEvent(t, "r-1", "hasura.cron.daily-report", now, map[string]any{"timezone": "Europe/Berlin"})
			if _, err := svc.Deliver(ctx, ev); err != nil {
				t.Fatal(err)
			}
			msgs := f.smtp.Messages()
			if len(msgs) != 1 || msgs[0].To[0] != "ops@shop.example" {
				t.Fatalf("messages %v", msgs)
			}
			got := parseMail(t, msgs[0].Data)
			if got.subject != "Daily report Mon 4 Mar 2024 (Europe/Berlin)" || !contains(got.text, "user_registered: 5") {
				t.Errorf("subject %q text %q", got.subject, got.text)
			}
			if _, err := svc.Deliver(ctx, ev); err != nil || len(f.reports.queries) != 1 {
				t.Errorf("redelivery fetched the report again (%d queries, %v)", len(f.reports.queries), err)
			}
		})

		t.Run("report source down records nothing", func(t *testing.T) {
			f := newFixture(t, db)
			f.reports.err = email.Retry(3*time.Second, email.ErrUnavailable)
			svc := f.service(t, nil)
			ev := cronEvent(t, "r-down", "cron.weekly-report", now, nil)
			if _, err := svc.Deliver(ctx, ev); !errors.Is(err, email.ErrUnavailable) || email.RetryAfter(err, 0) != 3*time.Second {
				t.Fatalf("Deliver = %v", err)
			}
			if msgs, _ := f.store.ForEvent(ctx, "cron", "r-down"); len(msgs) != 0 {
				t.Fatalf("recorded %d messages", len(msgs))
			}
			f.reports.err = nil
			if out, err := svc.Deliver(ctx, ev); err != nil || out != email.Applied {
				t.Fatalf("retry = %v, %v", out, err)
			}
		})
	})
}

// TestServiceResendWindow covers the one window SMTP cannot close: the server
// accepted the data, and the sender died before recording it. The next delivery
// (after the lease) sends the stored bytes again, with the same Message-ID.
func TestServiceResendWindow(t *testing.T) {
	sqlstoretest.ForEachDialect(t, store.Migrations, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		for _, tc := range []struct {
			name   string
			inject func(f *fixture, st *finishFails)
			// leaseHeld: the dead sender's lease still blocks the row.
			leaseHeld bool
		}{
			{"process died after DATA accepted", func(_ *fixture, st *finishFails) { st.armed.Store(true) }, true},
			{"reply to DATA lost", func(f *fixture, _ *finishFails) { f.smtp.Drop(smtptest.StageDataEnd) }, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixture(t, db)
				crashing := &finishFails{Store: f.store}
				first := f.service(t, crashing)
				tc.inject(f, crashing)
				ev := welcomeEvent(t, "w-window-"+tc.name)
				if _, err := first.Deliver(ctx, ev); !errors.Is(err, email.ErrUnavailable) {
					t.Fatalf("first Deliver = %v, want ErrUnavailable", err)
				}
				if n := len(f.smtp.Messages()); n != 1 {
					t.Fatalf("server stored %d messages, want 1", n)
				}

				// A new process; its delivery waits at most until its deadline.
				second := f.service(t, nil)
				if tc.leaseHeld {
					// The dead sender still holds the lease: a delivery now must
					// not send, and says when to come back.
					dctx, cancel := context.WithTimeout(ctx, time.Second)
					_, err := second.Deliver(dctx, ev)
					cancel()
					// Either way a retry code; normally the wait ends first.
					retryable := errors.Is(err, email.ErrUnavailable) && email.RetryAfter(err, 0) > 0
					if !retryable && !errors.Is(err, context.DeadlineExceeded) {
						t.Fatalf("Deliver under the dead sender's lease = %v", err)
					}
					if n := len(f.smtp.Messages()); n != 1 {
						t.Fatalf("sent during the lease: %d messages", n)
					}
					f.clock.Add(f.lease)
				}
				if out, err := second.Deliver(ctx, ev); err != nil || out != email.Applied {
					t.Fatalf("redelivery = %v, %v", out, err)
				}
				msgs := f.smtp.Messages()
				if len(msgs) != 2 {
					t.Fatalf("server has %d messages, want the resend (2)", len(msgs))
				}
				if !bytes.Equal(msgs[0].Data, msgs[1].Data) {
					t.Error("the resend differs from the first copy")
				}
				a, b := parseMail(t, msgs[0].Data).header.Get("Message-ID"), parseMail(t, msgs[1].Data).header.Get("Message-ID")
				if a == "" || a != b {
					t.Errorf("Message-IDs %q and %q, want the same", a, b)
				}
				if out, err := second.Deliver(ctx, ev); err != nil || out != email.AlreadyDone || len(f.smtp.Messages()) != 2 {
					t.Fatalf("after the resend: %v, %v, %d messages", out, err, len(f.smtp.Messages()))
				}
			})
		}
	})
}

func TestNewServiceValidates(t *testing.T) {
	r, _ := compose.New()
	for _, tc := range []struct {
		name string
		cfg  email.Config
	}{
		{"no from", email.Config{Planner: &email.Planner{}, Renderer: r}},
		{"no store", email.Config{From: mail.Address{Address: "a@example.com"}, Planner: &email.Planner{}, Renderer: r}},
		{"negative lease", email.Config{From: mail.Address{Address: "a@example.com"}, Lease: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := email.NewService(tc.cfg); err == nil {
				t.Fatal("NewService accepted it")
			}
		})
	}
}

type mailParts struct {
	header     mail.Header
	subject    string
	text, html string
}

func parseMail(t *testing.T, raw []byte) mailParts {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("read message: %v", err)
	}
	out := mailParts{header: m.Header}
	if out.subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
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
		switch p.Header.Get("Content-Type") {
		case "text/plain; charset=utf-8":
			out.text = string(body)
		case "text/html; charset=utf-8":
			out.html = string(body)
		}
	}
	if out.text == "" || out.html == "" {
		t.Fatal("missing a part")
	}
	return out
}

func contains(s, sub string) bool { return bytes.Contains([]byte(s), []byte(sub)) }
