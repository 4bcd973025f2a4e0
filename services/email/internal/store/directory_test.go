package store_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/platform/sqlstore"
	"github.com/hookmesh/hookmesh/platform/sqlstore/sqlstoretest"
	"github.com/hookmesh/hookmesh/services/email/internal/email"
	"github.com/hookmesh/hookmesh/services/email/internal/store"
)

// userEvent is a users event and its directory change.
type userEvent struct {
	ref    email.EventRef
	change *email.CustomerChange
}

// userChange is the directory change of users event eventID about row rowID.
func userChange(eventID, rowID, addr, name string, op email.CustomerOp, at time.Time) userEvent {
	types := map[email.CustomerOp]string{email.CustomerInserted: "insert", email.CustomerUpdated: "update", email.CustomerDeleted: "delete"}
	return userEvent{
		ref: email.EventRef{Source: "hasura", ID: eventID, Type: "hasura.public.users." + types[op]},
		change: &email.CustomerChange{
			Customer: email.Customer{ID: rowID, Email: addr, Name: name, Deleted: op == email.CustomerDeleted},
			Op:       op, At: at,
		},
	}
}

func TestCustomerDirectory(t *testing.T) {
	sqlstoretest.ForEachDialect(t, store.Migrations, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		s := store.New(db)
		apply := func(t *testing.T, ev userEvent, msgs ...*email.Message) bool {
			t.Helper()
			first, err := s.Record(ctx, ev.ref, msgs, ev.change)
			if err != nil {
				t.Fatalf("Record %s: %v", ev.ref.ID, err)
			}
			return first
		}
		lookup := func(t *testing.T, id string) email.Customer {
			t.Helper()
			c, ok, err := s.Customer(ctx, id)
			if err != nil || !ok {
				t.Fatalf("Customer(%s) = %+v, %v, %v; want known", id, c, ok, err)
			}
			return c
		}

		t.Run("unknown customer", func(t *testing.T) {
			if c, ok, err := s.Customer(ctx, "nobody"); err != nil || ok {
				t.Fatalf("Customer = %+v, %v, %v; want unknown", c, ok, err)
			}
		})

		t.Run("insert with its welcome message, then update", func(t *testing.T) {
			ins := userChange("u1-ins", "1", "ada@example.com", "Ada", email.CustomerInserted, t0)
			welcome := message("u1-ins", t0, "ada@example.com")
			if !apply(t, ins, welcome) {
				t.Fatal("insert not first")
			}
			if got := lookup(t, "1"); got != (email.Customer{ID: "1", Email: "ada@example.com", Name: "Ada"}) {
				t.Fatalf("after insert: %+v", got)
			}
			if msgs, _ := s.ForEvent(ctx, "hasura", "u1-ins"); len(msgs) != 1 {
				t.Fatalf("welcome not recorded with the change: %d messages", len(msgs))
			}
			apply(t, userChange("u1-upd", "1", "ada@new.example", "Ada L", email.CustomerUpdated, t0.Add(time.Second)))
			if got := lookup(t, "1"); got.Email != "ada@new.example" || got.Name != "Ada L" || got.Deleted {
				t.Fatalf("after update: %+v", got)
			}
		})

		// Events carry no ordering guarantee: the directory ends the same.
		for _, tc := range []struct {
			name   string
			events []func(row string) userEvent
			want   email.Customer // ID filled in
		}{
			{
				name: "update before its insert",
				events: []func(string) userEvent{
					func(r string) userEvent {
						return userChange(r+"-upd", r, "new@example.com", "New", email.CustomerUpdated, t0.Add(time.Minute))
					},
					func(r string) userEvent {
						return userChange(r+"-ins", r, "old@example.com", "Old", email.CustomerInserted, t0)
					},
				},
				want: email.Customer{Email: "new@example.com", Name: "New"},
			},
			{
				name: "insert and update of one transaction, update first",
				events: []func(string) userEvent{
					func(r string) userEvent {
						return userChange(r+"-upd", r, "new@example.com", "New", email.CustomerUpdated, t0)
					},
					func(r string) userEvent {
						return userChange(r+"-ins", r, "old@example.com", "Old", email.CustomerInserted, t0)
					},
				},
				want: email.Customer{Email: "new@example.com", Name: "New"},
			},
			{
				name: "delete, then a late insert does not revive",
				events: []func(string) userEvent{
					func(r string) userEvent {
						return userChange(r+"-del", r, "", "", email.CustomerDeleted, t0.Add(time.Hour))
					},
					func(r string) userEvent {
						return userChange(r+"-ins", r, "old@example.com", "Old", email.CustomerInserted, t0)
					},
				},
				want: email.Customer{Deleted: true},
			},
			{
				name: "address removed",
				events: []func(string) userEvent{
					func(r string) userEvent {
						return userChange(r+"-ins", r, "old@example.com", "Old", email.CustomerInserted, t0)
					},
					func(r string) userEvent {
						return userChange(r+"-upd", r, "", "Old", email.CustomerUpdated, t0.Add(time.Second))
					},
				},
				want: email.Customer{Name: "Old"},
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				row := "row-" + tc.name
				for _, ev := range tc.events {
					apply(t, ev(row))
				}
				tc.want.ID = row
				if got := lookup(t, row); got != tc.want {
					t.Fatalf("directory = %+v, want %+v", got, tc.want)
				}
			})
		}

		t.Run("a redelivered event applies nothing", func(t *testing.T) {
			apply(t, userChange("u3-ins", "3", "first@example.com", "", email.CustomerInserted, t0))
			apply(t, userChange("u3-upd", "3", "second@example.com", "", email.CustomerUpdated, t0.Add(time.Second)))
			// The insert again, as if it were newer: the processing mark stops it.
			if apply(t, userChange("u3-ins", "3", "first@example.com", "", email.CustomerInserted, t0.Add(time.Hour))) {
				t.Fatal("redelivery was first")
			}
			if got := lookup(t, "3"); got.Email != "second@example.com" {
				t.Fatalf("redelivery changed the directory: %+v", got)
			}
		})

		t.Run("the change, the messages and the mark commit together", func(t *testing.T) {
			if _, err := db.ExecContext(ctx, "ALTER TABLE customers RENAME TO customers_away"); err != nil {
				t.Fatal(err)
			}
			ins := userChange("u4-ins", "4", "four@example.com", "", email.CustomerInserted, t0)
			welcome := message("u4-ins", t0, "four@example.com")
			_, err := s.Record(ctx, ins.ref, []*email.Message{welcome}, ins.change)
			if _, rerr := db.ExecContext(ctx, "ALTER TABLE customers_away RENAME TO customers"); rerr != nil {
				t.Fatal(rerr)
			}
			if err == nil {
				t.Fatal("Record without the directory table succeeded")
			}
			if msgs, _ := s.ForEvent(ctx, "hasura", "u4-ins"); len(msgs) != 0 {
				t.Fatalf("messages stored by a failed Record: %d", len(msgs))
			}
			if !apply(t, ins, welcome) {
				t.Fatal("the event was marked processed by a failed Record")
			}
			if got := lookup(t, "4"); got.Email != "four@example.com" {
				t.Fatalf("directory = %+v", got)
			}
		})
	})
}

func TestCustomerDirectoryDatabaseDown(t *testing.T) {
	ctx := t.Context()
	db, err := sqlstore.Open(ctx, sqlstore.Config{SQLitePath: filepath.Join(t.TempDir(), "email.db"), Migrations: store.Migrations})
	if err != nil {
		t.Fatal(err)
	}
	s := store.New(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Customer(ctx, "1"); err == nil {
		t.Error("Customer on a closed database succeeded")
	}
	ins := userChange("d-1", "1", "a@example.com", "", email.CustomerInserted, t0)
	if _, err := s.Record(ctx, ins.ref, nil, ins.change); err == nil {
		t.Error("Record on a closed database succeeded")
	}
}
