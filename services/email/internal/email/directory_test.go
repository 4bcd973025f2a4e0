package email_test

import (
	"errors"
	"testing"
	"time"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/sqlstore"
	"github.com/hookmesh/hookmesh/platform/sqlstore/sqlstoretest"
	"github.com/hookmesh/hookmesh/services/email/internal/email"
	"github.com/hookmesh/hookmesh/services/email/internal/store"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// at sets when Hasura created a users event (the directory's order).
func at(ev *eventv1.Event, t time.Time) *eventv1.Event {
	ev.GetHasuraTable().CreatedAt = timestamppb.New(t)
	return ev
}

func userRow(id any, addr, name string) map[string]any {
	row := map[string]any{"id": id, "name": name}
	if addr != "" {
		row["email"] = addr
	}
	return row
}

// TestServiceCustomerDirectory: orders facts without an address are addressed
// through the directory kept from user events, over the real store and SMTP.
func TestServiceCustomerDirectory(t *testing.T) {
	sqlstoretest.ForEachDialect(t, store.Migrations, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		deliver := func(t *testing.T, svc *email.Service, ev *eventv1.Event, want email.Outcome) {
			t.Helper()
			if out, err := svc.Deliver(ctx, ev); err != nil || out != want {
				t.Fatalf("Deliver %s/%s = %v, %v; want %v", ev.GetSource(), ev.GetId(), out, err, want)
			}
		}
		// sentTo lists the recipients of the messages SMTP got for an event.
		sentTo := func(f *fixture, ev *eventv1.Event) []string {
			var to []string
			for _, m := range f.smtp.Messages() {
				if parseMail(t, m.Data).header.Get("X-Hookmesh-Event") == ev.GetSource()+"/"+ev.GetId() {
					to = append(to, m.To...)
				}
			}
			return to
		}
		shipment := func(id string, data map[string]any) *eventv1.Event {
			data["order_id"] = "9001"
			return factEvent(t, id, "orders.shipment.created", data)
		}

		t.Run("confirmation resolved by customer_id, sent once", func(t *testing.T) {
			f := newFixture(t, db)
			svc := f.service(t, nil)
			deliver(t, svc, userEvent(t, "c1-ins", "insert", nil, userRow(7.0, "grace@example.com", "Grace")), email.Applied)
			if c, ok, err := f.store.Customer(ctx, "7"); err != nil || !ok || c.Email != "grace@example.com" || c.Name != "Grace" {
				t.Fatalf("directory after the insert: %+v, %v, %v", c, ok, err)
			}
			ev := shipment("c1-ship", map[string]any{"customer_id": "7", "tracking_number": "TRK-7"})
			deliver(t, svc, ev, email.Applied)
			for range 2 { // redelivery and replay
				deliver(t, svc, ev, email.AlreadyDone)
			}
			if to := sentTo(f, ev); len(to) != 1 || to[0] != "grace@example.com" {
				t.Fatalf("confirmation sent to %v, want once to grace@example.com", to)
			}
			m, err := f.store.Get(ctx, email.MessageKey("orders", "c1-ship", email.KindOrderConfirmation))
			if err != nil || m.Status != email.StatusSent || m.Subject == "" {
				t.Fatalf("message row %+v, %v", m, err)
			}
			got := parseMail(t, f.smtp.Messages()[len(f.smtp.Messages())-1].Data)
			if got.header.Get("To") != `"Grace" <grace@example.com>` || !contains(got.text, "TRK-7") {
				t.Errorf("To %q, text %q", got.header.Get("To"), got.text)
			}
		})

		t.Run("unknown customer is retried until the insert arrives", func(t *testing.T) {
			f := newFixture(t, db)
			svc := f.service(t, nil)
			ev := factEvent(t, "c2-short", "orders.stock.insufficient", map[string]any{"order_id": "9002", "customer_id": 8.0,
				"shortages": []any{map[string]any{"sku": "MUG", "requested": 2.0, "available": 0.0}}})
			for range 2 {
				_, err := svc.Deliver(ctx, ev)
				if !errors.Is(err, email.ErrUnavailable) || email.RetryAfter(err, 0) != email.DefaultCustomerRetry {
					t.Fatalf("Deliver before the insert = %v, want ErrUnavailable after %v", err, email.DefaultCustomerRetry)
				}
			}
			if msgs, _ := f.store.ForEvent(ctx, "orders", "c2-short"); len(msgs) != 0 || len(f.smtp.Messages()) != 0 {
				t.Fatalf("recorded %d, sent %d before the customer was known", len(msgs), len(f.smtp.Messages()))
			}
			deliver(t, svc, userEvent(t, "c2-ins", "insert", nil, userRow("8", "hal@example.com", "Hal")), email.Applied)
			deliver(t, svc, ev, email.Applied)
			deliver(t, svc, ev, email.AlreadyDone)
			if to := sentTo(f, ev); len(to) != 1 || to[0] != "hal@example.com" {
				t.Fatalf("back-order email sent to %v", to)
			}
		})

		t.Run("the fact's own address wins", func(t *testing.T) {
			f := newFixture(t, db)
			svc := f.service(t, nil)
			deliver(t, svc, userEvent(t, "c3-ins", "insert", nil, userRow(10.0, "ivy@example.com", "Ivy")), email.Applied)
			ev := shipment("c3-ship", map[string]any{"customer_id": 10.0, "customer_email": "billing@example.com"})
			deliver(t, svc, ev, email.Applied)
			if to := sentTo(f, ev); len(to) != 1 || to[0] != "billing@example.com" {
				t.Fatalf("sent to %v, want billing@example.com", to)
			}
		})

		t.Run("updates and deletes keep the directory current", func(t *testing.T) {
			f := newFixture(t, db)
			svc := f.service(t, nil)
			// Out of order: the address change (newer) arrives before the insert.
			deliver(t, svc, at(userEvent(t, "c4-upd", "update", userRow(11.0, "old@example.com", "Jo"), userRow(11.0, "new@example.com", "Jo")), now.Add(time.Minute)), email.Applied)
			deliver(t, svc, at(userEvent(t, "c4-ins", "insert", nil, userRow(11.0, "old@example.com", "Jo")), now), email.Applied)
			ev := shipment("c4-ship", map[string]any{"customer_id": 11.0})
			deliver(t, svc, ev, email.Applied)
			if to := sentTo(f, ev); len(to) != 1 || to[0] != "new@example.com" {
				t.Fatalf("sent to %v, want the newer address", to)
			}

			// A name-only update (the demo filter does not deliver it, another
			// config may) changes the directory and sends nothing, once.
			rename := at(userEvent(t, "c4-name", "update", userRow(11.0, "new@example.com", "Jo"), userRow(11.0, "new@example.com", "Joanna")), now.Add(2*time.Minute))
			deliver(t, svc, rename, email.DirectoryUpdated)
			deliver(t, svc, rename, email.AlreadyDone)
			if c, _, _ := f.store.Customer(ctx, "11"); c.Name != "Joanna" || c.Email != "new@example.com" {
				t.Fatalf("directory after the rename: %+v", c)
			}

			del := at(userEvent(t, "c4-del", "delete", userRow(11.0, "new@example.com", "Joanna"), nil), now.Add(3*time.Minute))
			deliver(t, svc, del, email.DirectoryUpdated)
			deliver(t, svc, del, email.AlreadyDone)
			if _, err := svc.Deliver(ctx, shipment("c4-late", map[string]any{"customer_id": 11.0})); !errors.Is(err, email.ErrInvalid) {
				t.Fatalf("fact for a deleted customer = %v, want ErrInvalid", err)
			}
			if n := len(f.smtp.Messages()); n != 3 { // welcome, verification, confirmation
				t.Fatalf("%d messages sent, want 3", n)
			}
		})

		t.Run("no address and no customer_id is invalid", func(t *testing.T) {
			f := newFixture(t, db)
			if _, err := f.service(t, nil).Deliver(ctx, shipment("c5-ship", map[string]any{"customer_name": "Nobody"})); !errors.Is(err, email.ErrInvalid) {
				t.Fatalf("Deliver = %v, want ErrInvalid", err)
			}
		})
	})
}
