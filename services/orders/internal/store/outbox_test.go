package store_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/platform/sqlstore"
	"github.com/hookmesh/hookmesh/platform/sqlstore/sqlstoretest"
	"github.com/hookmesh/hookmesh/services/orders/internal/orders"
	"github.com/hookmesh/hookmesh/services/orders/internal/store"
)

func TestNotificationOutbox(t *testing.T) {
	sqlstoretest.ForEachDialect(t, store.Migrations, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		f := newFixture(t, db)
		f.stock(t, "A", 10)
		if err := f.svc.ApplyOrder(ctx, f.ref(), completion("n1", orders.Item{SKU: "A", Quantity: 1})); err != nil {
			t.Fatal(err)
		}
		id := orders.NotificationID("n1")

		t.Run("a claimed row is leased to one claimer", func(t *testing.T) {
			var wg sync.WaitGroup
			got := make([]int, 4)
			for i := range got {
				wg.Go(func() {
					ns, err := f.st.ClaimNotifications(ctx, t0, t0.Add(time.Minute), 10)
					if err != nil {
						t.Error(err)
					}
					got[i] = len(ns)
				})
			}
			wg.Wait()
			total := 0
			for _, n := range got {
				total += n
			}
			if total != 1 {
				t.Fatalf("claimed %v times, want once", got)
			}
			next, ok, err := f.st.NextNotificationDue(ctx)
			if err != nil || !ok || !next.Equal(t0.Add(time.Minute)) {
				t.Fatalf("next due = %v %v %v, want the lease end", next, ok, err)
			}
		})

		t.Run("an expired lease is claimed again", func(t *testing.T) {
			ns, err := f.st.ClaimNotifications(ctx, t0.Add(2*time.Minute), t0.Add(3*time.Minute), 10)
			if err != nil || len(ns) != 1 || ns[0].ID != id || string(ns[0].Body) == "" {
				t.Fatalf("claim = %+v, %v", ns, err)
			}
		})

		t.Run("attempts are recorded", func(t *testing.T) {
			steps := []struct {
				a    orders.Attempt
				want orders.NotificationStatus
			}{
				{orders.Attempt{StatusCode: 503, Error: "receiver answered 503", NextAt: t0.Add(5 * time.Minute), At: t0}, orders.NotificationPending},
				{orders.Attempt{Done: true, StatusCode: 204, At: t0.Add(6 * time.Minute)}, orders.NotificationDelivered},
				// A late record from a lost lease does not undo the delivery.
				{orders.Attempt{StatusCode: 500, Error: "late", At: t0.Add(7 * time.Minute)}, orders.NotificationDelivered},
			}
			for _, st := range steps {
				if err := f.st.RecordNotificationAttempt(ctx, id, st.a); err != nil {
					t.Fatal(err)
				}
				ns, _, err := f.st.ListNotifications(ctx, orders.NotificationFilter{OrderID: "n1"}, orders.Page{})
				if err != nil || len(ns) != 1 || ns[0].Status != st.want {
					t.Fatalf("after %+v: %+v, %v", st.a, ns, err)
				}
			}
			ns, _, _ := f.st.ListNotifications(ctx, orders.NotificationFilter{Status: orders.NotificationDelivered}, orders.Page{})
			if len(ns) != 1 || ns[0].Attempts != 2 || ns[0].LastStatusCode != 204 || !ns[0].DeliveredAt.Equal(t0.Add(6*time.Minute)) || !ns[0].NextAttemptAt.IsZero() {
				t.Fatalf("delivered row = %+v", ns)
			}
			if _, ok, _ := f.st.NextNotificationDue(ctx); ok {
				t.Fatal("a delivered notification is still due")
			}
		})
	})
}

func TestPaymentsConcurrently(t *testing.T) {
	sqlstoretest.ForEachDialect(t, store.Migrations, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		f := newFixture(t, db)
		var wg sync.WaitGroup
		refs := []orders.EventRef{f.ref(), f.ref(), f.ref(), f.ref()}
		pays := []orders.Payment{
			{OrderID: "p1", Status: orders.PaymentFailed, PaymentIntentID: "pi_1", At: t0},
			{OrderID: "p1", Status: orders.PaymentSucceeded, PaymentIntentID: "pi_2", AmountCents: 100, At: t0.Add(time.Second)},
			{OrderID: "p1", Status: orders.PaymentFailed, PaymentIntentID: "pi_1", At: t0.Add(2 * time.Second)},
			{OrderID: "p1", Status: orders.PaymentFailed, PaymentIntentID: "pi_3", At: t0.Add(3 * time.Second)},
		}
		for i := range refs {
			wg.Go(func() {
				// The dispatcher retries ABORTED: do the same until it applies.
				for {
					err := f.svc.ApplyPayment(ctx, refs[i], pays[i])
					if !errors.Is(err, orders.ErrAborted) {
						if err != nil {
							t.Error(err)
						}
						return
					}
				}
			})
		}
		wg.Wait()
		if err := f.svc.ApplyOrder(ctx, f.ref(), orders.OrderChange{Op: orders.OpInsert, New: row("p1", "pending"), At: t0}); err != nil {
			t.Fatal(err)
		}
		o, err := f.st.GetOrder(ctx, "p1")
		if err != nil || o.Payment.Status != orders.PaymentSucceeded || o.Payment.PaymentIntentID != "pi_2" {
			t.Fatalf("payment = %+v, %v; the success must win in any order", o.Payment, err)
		}
	})
}

func TestBillingConcurrently(t *testing.T) {
	sqlstoretest.ForEachDialect(t, store.Migrations, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		f := newFixture(t, db)
		f.stock(t, "A", 100)
		for _, id := range []string{"b1", "b2", "b3"} {
			if err := f.svc.ApplyOrder(ctx, f.ref(), completion(id, orders.Item{SKU: "A", Quantity: 1, PriceCents: 700})); err != nil {
				t.Fatal(err)
			}
		}
		sub := orders.Subscription{ID: "sub_1", CustomerID: "cust-b1", StripeCustomerID: "cus_1", Status: "active", MonthlyPriceCents: 999, StartedAt: t0.AddDate(0, -1, 0)}
		if err := f.svc.ApplySubscription(ctx, f.ref(), orders.SubscriptionChange{Subscription: sub}); err != nil {
			t.Fatal(err)
		}
		june := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
		var wg sync.WaitGroup
		for i := range 6 {
			ref := orders.EventRef{Source: []string{"hookmesh", "hasura"}[i%2], ID: "tick-" + []string{"a", "b", "c"}[i%3]}
			wg.Go(func() {
				for {
					_, err := f.svc.Bill(ctx, ref, june)
					if errors.Is(err, orders.ErrAborted) {
						continue
					}
					if err != nil && !errors.Is(err, orders.ErrConflict) {
						t.Error(err)
					}
					return
				}
			})
		}
		wg.Wait()
		invs, _, err := f.st.ListInvoices(ctx, orders.InvoiceFilter{Month: "2026-05"}, orders.Page{})
		if err != nil || len(invs) != 3 {
			t.Fatalf("invoices = %+v, %v; want one per customer", invs, err)
		}
		for _, inv := range invs {
			want := int64(700)
			if inv.CustomerID == "cust-b1" {
				want += 999
			}
			if inv.TotalCents != want {
				t.Errorf("%s: total %d, want %d (lines %+v)", inv.CustomerID, inv.TotalCents, want, inv.Lines)
			}
		}
		sh, _, err := f.st.ListShipments(ctx, orders.ShipmentFilter{}, orders.Page{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sh {
			if s.InvoiceID != orders.InvoiceID(s.CustomerID, orders.Month{Year: 2026, Month: time.May}) {
				t.Errorf("shipment %s billed on %q", s.OrderID, s.InvoiceID)
			}
		}
	})
}

func TestSubscriptionsOutOfOrder(t *testing.T) {
	sqlstoretest.ForEachDialect(t, store.Migrations, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		f := newFixture(t, db)
		sub := orders.Subscription{ID: "sub_9", CustomerID: "c9", StripeCustomerID: "cus_9", Status: "active", MonthlyPriceCents: 500, StartedAt: t0.AddDate(0, -3, 0)}
		ended := sub
		ended.Status, ended.EndedAt = "canceled", t0.AddDate(0, -2, 0)
		if err := f.svc.ApplySubscription(ctx, f.ref(), orders.SubscriptionChange{Subscription: ended, Deleted: true}); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.ApplySubscription(ctx, f.ref(), orders.SubscriptionChange{Subscription: sub}); err != nil {
			t.Fatal(err)
		}
		invs, err := f.svc.Bill(ctx, f.ref(), time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
		if err != nil || len(invs) != 0 {
			t.Fatalf("a cancelled subscription was billed: %+v, %v", invs, err)
		}
		if err := f.svc.ApplySubscription(ctx, f.ref(), orders.SubscriptionChange{Subscription: orders.Subscription{ID: "x"}}); !errors.Is(err, orders.ErrInvalid) {
			t.Fatalf("subscription without customer: %v", err)
		}
	})
}

func TestListsPageAndSeed(t *testing.T) {
	sqlstoretest.ForEachDialect(t, store.Migrations, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		f := newFixture(t, db)
		levels := []orders.StockLevel{{SKU: "S1", Quantity: 1}, {SKU: "S2", Quantity: 2}, {SKU: "S3", Quantity: 3}}
		for i, want := range []bool{true, false} {
			seeded, err := f.st.SeedStock(ctx, "demo", levels)
			if err != nil || seeded != want {
				t.Fatalf("seed #%d = %v, %v; want %v", i+1, seeded, err, want)
			}
		}
		var skus []string
		tok := ""
		for {
			page, next, err := f.st.ListStock(ctx, orders.Page{Size: 2, Token: tok})
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range page {
				skus = append(skus, l.SKU)
			}
			if tok = next; tok == "" {
				break
			}
		}
		if len(skus) != 3 || skus[0] != "S1" || skus[2] != "S3" {
			t.Fatalf("stock pages = %v", skus)
		}
		if _, _, err := f.st.ListNotifications(ctx, orders.NotificationFilter{}, orders.Page{Token: "bm9jb2xvbg"}); !errors.Is(err, orders.ErrInvalid) {
			t.Fatalf("token without a separator: %v", err)
		}
		if _, _, err := f.st.ListInvoices(ctx, orders.InvoiceFilter{}, orders.Page{Size: -2}); !errors.Is(err, orders.ErrInvalid) {
			t.Fatalf("negative page size: %v", err)
		}
	})
}
