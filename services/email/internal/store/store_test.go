package store_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/platform/sqlstore"
	"github.com/hookmesh/hookmesh/platform/sqlstore/sqlstoretest"
	"github.com/hookmesh/hookmesh/services/email/internal/email"
	"github.com/hookmesh/hookmesh/services/email/internal/store"
)

var t0 = time.Date(2024, 3, 5, 9, 0, 0, 123456000, time.UTC)

// message is a queued welcome message for the hasura event id.
func message(id string, at time.Time, to ...string) *email.Message {
	const source, kind = "hasura", email.KindWelcome
	key := email.MessageKey(source, id, kind)
	return &email.Message{
		ID: key, MessageID: key + "@example.com", Kind: kind, Status: email.StatusQueued,
		From: "noreply@example.com", To: to, Subject: "Hello " + id,
		Event:   email.EventRef{Source: source, ID: id, Type: "hasura.public.users.insert"},
		TraceID: "0af7651916cd43dd8448eb211c80319c", Raw: []byte("Subject: x\r\n\r\nbody " + id + "\r\n"),
		CreatedAt: at, UpdatedAt: at,
	}
}

func record(t *testing.T, s *store.Store, msgs ...*email.Message) {
	t.Helper()
	first, err := s.Record(t.Context(), msgs[0].Event, msgs, nil)
	if err != nil || !first {
		t.Fatalf("Record = %v, %v; want first", first, err)
	}
}

func TestStore(t *testing.T) {
	sqlstoretest.ForEachDialect(t, store.Migrations, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		s := store.New(db)

		t.Run("record once", func(t *testing.T) {
			m := message("evt-1", t0, "Ada@Example.com", "bob@example.com")
			record(t, s, m)
			again := message("evt-1", t0.Add(time.Hour), "other@example.com")
			first, err := s.Record(ctx, again.Event, []*email.Message{again}, nil)
			if err != nil || first {
				t.Fatalf("second Record = %v, %v; want not first", first, err)
			}
			got, err := s.ForEvent(ctx, "hasura", "evt-1")
			if err != nil || len(got) != 1 {
				t.Fatalf("ForEvent = %v, %v", got, err)
			}
			g := got[0]
			if g.ID != m.ID || g.MessageID != m.MessageID || g.Kind != m.Kind || g.Status != email.StatusQueued ||
				g.Subject != m.Subject || string(g.Raw) != string(m.Raw) || g.TraceID != m.TraceID || g.Event != m.Event ||
				!g.CreatedAt.Equal(t0) || fmt.Sprint(g.To) != "[Ada@Example.com bob@example.com]" || !g.SentAt.IsZero() {
				t.Errorf("round trip:\n got %+v\nwant %+v", g, m)
			}
			if got, _ := s.ForEvent(ctx, "hasura", "evt-unknown"); len(got) != 0 {
				t.Errorf("ForEvent of unknown event = %v", got)
			}
		})

		t.Run("concurrent records, one first", func(t *testing.T) {
			var (
				wg     sync.WaitGroup
				mu     sync.Mutex
				firsts int
			)
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					m := message("evt-race", t0.Add(time.Duration(i)*time.Second), "a@example.com")
					first, err := s.Record(ctx, m.Event, []*email.Message{m}, nil)
					if err != nil {
						t.Errorf("Record: %v", err)
					}
					if first {
						mu.Lock()
						firsts++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			got, _ := s.ForEvent(ctx, "hasura", "evt-race")
			if firsts != 1 || len(got) != 1 {
				t.Fatalf("%d firsts, %d messages; want 1 and 1", firsts, len(got))
			}
		})

		t.Run("claim and finish", func(t *testing.T) {
			m := message("evt-claim", t0, "a@example.com")
			record(t, s, m)
			lease := time.Minute
			c1, err := s.Claim(ctx, m.ID, t0, lease)
			if err != nil || !c1.Held || c1.Token == "" || c1.Message.Attempts != 1 || !c1.LeaseUntil.Equal(t0.Add(lease)) {
				t.Fatalf("first claim = %+v, %v", c1, err)
			}
			c2, err := s.Claim(ctx, m.ID, t0.Add(time.Second), lease)
			if err != nil || c2.Held || !c2.LeaseUntil.Equal(t0.Add(lease)) {
				t.Fatalf("claim under lease = %+v, %v; want not held", c2, err)
			}
			if err := s.Finish(ctx, c1, email.Attempt{Status: email.StatusFailed, Reason: "smtp RCPT: 451 later", Transport: "smtp", At: t0.Add(2 * time.Second)}); err != nil {
				t.Fatal(err)
			}
			g, err := s.Get(ctx, m.ID)
			if err != nil || g.Status != email.StatusFailed || g.FailureReason != "smtp RCPT: 451 later" || g.Transport != "smtp" {
				t.Fatalf("after failure: %+v, %v", g, err)
			}
			// A failed message may be claimed again at once (lease released).
			c3, err := s.Claim(ctx, m.ID, t0.Add(3*time.Second), lease)
			if err != nil || !c3.Held || c3.Message.Attempts != 2 {
				t.Fatalf("claim after failure = %+v, %v", c3, err)
			}
			sentAt := t0.Add(4 * time.Second)
			if err := s.Finish(ctx, c3, email.Attempt{Status: email.StatusSent, Transport: "outbox", At: sentAt}); err != nil {
				t.Fatal(err)
			}
			g, _ = s.Get(ctx, m.ID)
			if g.Status != email.StatusSent || !g.SentAt.Equal(sentAt) || g.FailureReason != "" || g.Attempts != 2 {
				t.Fatalf("after send: %+v", g)
			}
			c4, err := s.Claim(ctx, m.ID, t0.Add(time.Hour), lease)
			if err != nil || c4.Held || c4.Message.Status != email.StatusSent {
				t.Fatalf("claim of sent message = %+v, %v; want not held", c4, err)
			}
			if err := s.Finish(ctx, c4, email.Attempt{Status: email.StatusFailed}); err == nil {
				t.Error("Finish of an unheld claim succeeded")
			}
		})

		t.Run("expired lease is taken over; the stale holder records nothing", func(t *testing.T) {
			m := message("evt-lease", t0, "a@example.com")
			record(t, s, m)
			old, err := s.Claim(ctx, m.ID, t0, time.Minute)
			if err != nil || !old.Held {
				t.Fatal(err)
			}
			taken, err := s.Claim(ctx, m.ID, t0.Add(time.Minute), time.Minute)
			if err != nil || !taken.Held {
				t.Fatalf("claim after lease end = %+v, %v", taken, err)
			}
			if err := s.Finish(ctx, old, email.Attempt{Status: email.StatusFailed, Reason: "stale", At: t0.Add(61 * time.Second)}); err != nil {
				t.Fatal(err)
			}
			if g, _ := s.Get(ctx, m.ID); g.Status != email.StatusQueued || g.FailureReason != "" {
				t.Fatalf("stale finish changed the row: %+v", g)
			}
			if err := s.Finish(ctx, taken, email.Attempt{Status: email.StatusSent, At: t0.Add(62 * time.Second)}); err != nil {
				t.Fatal(err)
			}
			if g, _ := s.Get(ctx, m.ID); g.Status != email.StatusSent {
				t.Fatalf("holder's finish lost: %+v", g)
			}
		})

		t.Run("concurrent claims, one holder", func(t *testing.T) {
			m := message("evt-claims", t0, "a@example.com")
			record(t, s, m)
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				held int
			)
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := s.Claim(ctx, m.ID, t0, time.Minute)
					if err != nil {
						t.Errorf("Claim: %v", err)
					}
					if c.Held {
						mu.Lock()
						held++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if held != 1 {
				t.Fatalf("%d holders, want 1", held)
			}
		})

		t.Run("not found", func(t *testing.T) {
			if _, err := s.Get(ctx, "nope"); !errors.Is(err, email.ErrNotFound) {
				t.Errorf("Get = %v", err)
			}
			if _, err := s.Claim(ctx, "nope", t0, time.Minute); !errors.Is(err, email.ErrNotFound) {
				t.Errorf("Claim = %v", err)
			}
		})

		t.Run("verified addresses", func(t *testing.T) {
			at, err := s.MarkVerified(ctx, "42", "ada@example.com", t0)
			if err != nil || !at.Equal(t0) {
				t.Fatalf("MarkVerified = %v, %v", at, err)
			}
			at, err = s.MarkVerified(ctx, "42", "ada@example.com", t0.Add(time.Hour))
			if err != nil || !at.Equal(t0) {
				t.Fatalf("second MarkVerified = %v, %v; want the first time", at, err)
			}
			if at, ok, err := s.Verified(ctx, "42", "ada@example.com"); err != nil || !ok || !at.Equal(t0) {
				t.Errorf("Verified = %v %v %v", at, ok, err)
			}
			if _, ok, err := s.Verified(ctx, "42", "other@example.com"); err != nil || ok {
				t.Errorf("Verified(other) = %v %v", ok, err)
			}
		})
	})
}

func TestList(t *testing.T) {
	sqlstoretest.ForEachDialect(t, store.Migrations, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		s := store.New(db)
		// Seven messages one minute apart; evt-3 is sent, evt-5 goes to two people.
		var ids []string
		for i := range 7 {
			to := []string{fmt.Sprintf("user%d@example.com", i)}
			if i == 5 {
				to = append(to, "Shared@Example.com")
			}
			m := message(fmt.Sprintf("evt-%d", i), t0.Add(time.Duration(i)*time.Minute), to...)
			record(t, s, m)
			ids = append(ids, m.ID)
		}
		c, err := s.Claim(ctx, ids[3], t0, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Finish(ctx, c, email.Attempt{Status: email.StatusSent, Transport: "outbox", At: t0}); err != nil {
			t.Fatal(err)
		}

		for _, tc := range []struct {
			name string
			f    email.Filter
			want []int // indexes into ids, newest first
		}{
			{"all", email.Filter{}, []int{6, 5, 4, 3, 2, 1, 0}},
			{"status sent", email.Filter{Status: email.StatusSent}, []int{3}},
			{"status queued", email.Filter{Status: email.StatusQueued}, []int{6, 5, 4, 2, 1, 0}},
			{"to, case-insensitive", email.Filter{To: "shared@example.COM"}, []int{5}},
			{"event id", email.Filter{EventID: "evt-2"}, []int{2}},
			{"since inclusive, until exclusive", email.Filter{Since: t0.Add(2 * time.Minute), Until: t0.Add(4 * time.Minute)}, []int{3, 2}},
			{"nothing", email.Filter{To: "nobody@example.com"}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, next, err := s.List(ctx, tc.f)
				if err != nil || next != "" {
					t.Fatalf("List = %v, next %q", err, next)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("%d messages, want %d", len(got), len(tc.want))
				}
				for i, w := range tc.want {
					if got[i].ID != ids[w] {
						t.Errorf("[%d] = %s, want evt-%d", i, got[i].Event.ID, w)
					}
				}
			})
		}

		t.Run("pages", func(t *testing.T) {
			var seen []string
			f := email.Filter{Limit: 3}
			for page := 0; ; page++ {
				got, next, err := s.List(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range got {
					seen = append(seen, m.Event.ID)
				}
				if next == "" {
					break
				}
				if page > 5 {
					t.Fatal("pagination does not end")
				}
				f.Cursor = next
			}
			if fmt.Sprint(seen) != "[evt-6 evt-5 evt-4 evt-3 evt-2 evt-1 evt-0]" {
				t.Errorf("pages = %v", seen)
			}
		})

		t.Run("bad cursor", func(t *testing.T) {
			for _, c := range []string{"!!", "bm9jb2xvbg", "MTIzOg"} {
				if _, _, err := s.List(ctx, email.Filter{Cursor: c}); !errors.Is(err, email.ErrInvalid) {
					t.Errorf("cursor %q: %v, want ErrInvalid", c, err)
				}
			}
		})
	})
}
