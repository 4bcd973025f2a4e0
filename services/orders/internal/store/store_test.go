package store_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/platform/sqlstore"
	"github.com/hookmesh/hookmesh/platform/sqlstore/sqlstoretest"
	"github.com/hookmesh/hookmesh/services/orders/internal/orders"
	"github.com/hookmesh/hookmesh/services/orders/internal/store"
)

var t0 = time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)

type fixture struct {
	st  *store.Store
	svc *orders.Service
	n   int
}

func newFixture(t *testing.T, db *sqlstore.DB) *fixture {
	t.Helper()
	st := store.New(db, func() time.Time { return t0 })
	svc, err := orders.NewService(orders.ServiceConfig{Store: st, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{st: st, svc: svc}
}

func (f *fixture) ref() orders.EventRef {
	f.n++
	return orders.EventRef{Source: "hasura", ID: fmt.Sprintf("evt-%d", f.n)}
}

func (f *fixture) stock(t *testing.T, sku string, q int64) {
	t.Helper()
	if err := f.svc.ApplyStock(t.Context(), f.ref(), orders.StockChange{Op: orders.StockSet, SKU: sku, Name: sku, Quantity: q}); err != nil {
		t.Fatalf("set stock %s: %v", sku, err)
	}
}

func (f *fixture) level(t *testing.T, sku string) int64 {
	t.Helper()
	levels, _, err := f.st.ListStock(t.Context(), orders.Page{Size: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range levels {
		if l.SKU == sku {
			return l.Quantity
		}
	}
	return -1
}

func row(id, status string, items ...orders.Item) *orders.OrderRow {
	var total int64
	for _, it := range items {
		total += it.Quantity * it.PriceCents
	}
	return &orders.OrderRow{ID: id, CustomerID: "cust-" + id, Status: status, Items: items, TotalCents: total, CreatedAt: t0}
}

func completion(id string, items ...orders.Item) orders.OrderChange {
	return orders.OrderChange{Op: orders.OpUpdate, Old: row(id, "pending", items...), New: row(id, "completed", items...), At: t0}
}

func (f *fixture) outboxCount(t *testing.T) int {
	t.Helper()
	facts, err := f.st.ClaimFacts(t.Context(), t0.Add(time.Hour), t0.Add(2*time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	return len(facts)
}

func TestStock(t *testing.T) {
	sqlstoretest.ForEachDialect(t, store.Migrations, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		f := newFixture(t, db)
		tests := []struct {
			name   string
			change orders.StockChange
			want   int64
		}{
			{"insert sets the level", orders.StockChange{Op: orders.StockSet, SKU: "A", Quantity: 10}, 10},
			{"insert again sets it again", orders.StockChange{Op: orders.StockSet, SKU: "A", Quantity: 7}, 7},
			{"update restocks by the delta", orders.StockChange{Op: orders.StockRestock, SKU: "A", Quantity: 99, Delta: 5}, 12},
			{"a negative delta lowers it", orders.StockChange{Op: orders.StockRestock, SKU: "A", Delta: -2}, 10},
			{"never below zero", orders.StockChange{Op: orders.StockRestock, SKU: "A", Delta: -50}, 0},
			{"update of an unknown SKU starts from the new quantity", orders.StockChange{Op: orders.StockRestock, SKU: "B", Quantity: 4, Delta: 1}, 4},
			{"delete forgets the SKU", orders.StockChange{Op: orders.StockRemove, SKU: "B"}, -1},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if err := f.svc.ApplyStock(ctx, f.ref(), tc.change); err != nil {
					t.Fatal(err)
				}
				if got := f.level(t, tc.change.SKU); got != tc.want {
					t.Fatalf("level of %s = %d, want %d", tc.change.SKU, got, tc.want)
				}
			})
		}
		t.Run("the same event twice applies once", func(t *testing.T) {
			ref := f.ref()
			c := orders.StockChange{Op: orders.StockRestock, SKU: "A", Delta: 3}
			if err := f.svc.ApplyStock(ctx, ref, c); err != nil {
				t.Fatal(err)
			}
			if err := f.svc.ApplyStock(ctx, ref, c); !errors.Is(err, orders.ErrConflict) {
				t.Fatalf("second apply: %v, want ErrConflict", err)
			}
			if got := f.level(t, "A"); got != 3 {
				t.Fatalf("level = %d, want 3", got)
			}
		})
		t.Run("invalid changes are rejected", func(t *testing.T) {
			for _, c := range []orders.StockChange{{Op: orders.StockSet}, {Op: orders.StockSet, SKU: "X", Quantity: -1}, {SKU: "X"}} {
				if err := f.svc.ApplyStock(ctx, f.ref(), c); !errors.Is(err, orders.ErrInvalid) {
					t.Errorf("%+v: %v, want ErrInvalid", c, err)
				}
			}
		})
	})
}

func TestOrderCompletion(t *testing.T) {
	sqlstoretest.ForEachDialect(t, store.Migrations, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		f := newFixture(t, db)
		f.stock(t, "SKU-1", 10)
		f.stock(t, "SKU-2", 5)
		items := []orders.Item{{SKU: "SKU-1", Quantity: 2, PriceCents: 1999}, {SKU: "SKU-2", Quantity: 1, PriceCents: 500}, {SKU: "SKU-1", Quantity: 1, PriceCents: 1999}}

		if err := f.svc.ApplyOrder(ctx, f.ref(), orders.OrderChange{Op: orders.OpInsert, New: row("o1", "pending", items...), At: t0}); err != nil {
			t.Fatal(err)
		}
		o, err := f.st.GetOrder(ctx, "o1")
		if err != nil {
			t.Fatal(err)
		}
		if o.Status != "pending" || o.Shipment != nil || o.Payment.Status != orders.PaymentPending || len(o.Items) != 3 {
			t.Fatalf("pending order = %+v", o)
		}

		if err := f.svc.ApplyOrder(ctx, f.ref(), completion("o1", items...)); err != nil {
			t.Fatal(err)
		}
		if got := f.level(t, "SKU-1"); got != 7 {
			t.Errorf("SKU-1 = %d, want 7", got)
		}
		if got := f.level(t, "SKU-2"); got != 4 {
			t.Errorf("SKU-2 = %d, want 4", got)
		}
		o, err = f.st.GetOrder(ctx, "o1")
		if err != nil {
			t.Fatal(err)
		}
		if o.Status != "completed" || o.Shipment == nil || o.Shipment.TrackingNumber == "" || o.Shipment.TotalCents != 3*1999+500 {
			t.Fatalf("completed order = %+v shipment %+v", o, o.Shipment)
		}
		ns, _, err := f.st.ListNotifications(ctx, orders.NotificationFilter{OrderID: "o1"}, orders.Page{})
		if err != nil || len(ns) != 1 || ns[0].Status != orders.NotificationPending || ns[0].ShipmentID != o.Shipment.ID {
			t.Fatalf("notifications = %+v, %v", ns, err)
		}

		t.Run("a later update of the completed order changes nothing", func(t *testing.T) {
			later := orders.OrderChange{Op: orders.OpUpdate, Old: row("o1", "completed", items...), New: row("o1", "completed", items...), At: t0.Add(time.Minute)}
			if err := f.svc.ApplyOrder(ctx, f.ref(), later); err != nil {
				t.Fatal(err)
			}
			again := completion("o1", items...) // a second transition (e.g. completed → pending → completed)
			again.At = t0.Add(2 * time.Minute)
			if err := f.svc.ApplyOrder(ctx, f.ref(), again); err != nil {
				t.Fatal(err)
			}
			if got := f.level(t, "SKU-1"); got != 7 {
				t.Errorf("SKU-1 = %d, want 7", got)
			}
			sh, _, err := f.st.ListShipments(ctx, orders.ShipmentFilter{}, orders.Page{})
			if err != nil || len(sh) != 1 {
				t.Fatalf("shipments = %d, %v; want 1", len(sh), err)
			}
			if n := f.outboxCount(t); n != 1 {
				t.Fatalf("facts in outbox = %d, want 1", n)
			}
		})

		t.Run("an older change does not overwrite a newer one", func(t *testing.T) {
			stale := orders.OrderChange{Op: orders.OpUpdate, Old: row("o1", "new", items...), New: row("o1", "pending", items...), At: t0.Add(-time.Hour)}
			if err := f.svc.ApplyOrder(ctx, f.ref(), stale); err != nil {
				t.Fatal(err)
			}
			o, err := f.st.GetOrder(ctx, "o1")
			if err != nil || o.Status != "completed" {
				t.Fatalf("status = %q, %v; want completed", o.Status, err)
			}
		})

		t.Run("delete keeps the order, marked deleted", func(t *testing.T) {
			del := orders.OrderChange{Op: orders.OpDelete, Old: row("o1", "completed", items...), At: t0.Add(time.Hour)}
			if err := f.svc.ApplyOrder(ctx, f.ref(), del); err != nil {
				t.Fatal(err)
			}
			o, err := f.st.GetOrder(ctx, "o1")
			if err != nil || o.DeletedAt.IsZero() || o.Shipment == nil {
				t.Fatalf("deleted order = %+v, %v", o, err)
			}
		})
	})
}

func TestInsufficientStock(t *testing.T) {
	sqlstoretest.ForEachDialect(t, store.Migrations, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		f := newFixture(t, db)
		f.stock(t, "A", 5)
		f.stock(t, "B", 1)
		ref := f.ref()
		err := f.svc.ApplyOrder(ctx, ref, completion("o2", orders.Item{SKU: "A", Quantity: 2}, orders.Item{SKU: "B", Quantity: 3}, orders.Item{SKU: "C", Quantity: 1}))
		var short *orders.InsufficientStockError
		if !errors.As(err, &short) || !errors.Is(err, orders.ErrInsufficientStock) {
			t.Fatalf("err = %v, want InsufficientStockError", err)
		}
		want := []orders.Shortage{{SKU: "B", Requested: 3, Available: 1}, {SKU: "C", Requested: 1, Available: 0}}
		if fmt.Sprint(short.Shortages) != fmt.Sprint(want) {
			t.Fatalf("shortages = %+v, want %+v", short.Shortages, want)
		}
		if got := f.level(t, "A"); got != 5 {
			t.Errorf("A = %d, want 5 (nothing half-applied)", got)
		}
		if _, err := f.st.GetOrder(ctx, "o2"); !errors.Is(err, orders.ErrNotFound) {
			t.Errorf("order state was applied: %v", err)
		}
		facts, err := f.st.ClaimFacts(ctx, t0, t0.Add(time.Minute), 10)
		if err != nil || len(facts) != 1 || facts[0].Type != orders.TypeStockInsufficient || facts[0].ID != orders.StockInsufficientID(ref) {
			t.Fatalf("facts = %+v, %v", facts, err)
		}

		t.Run("after a restock the same delivery applies", func(t *testing.T) {
			f.stock(t, "B", 3)
			f.stock(t, "C", 1)
			if err := f.svc.ApplyOrder(ctx, ref, completion("o2", orders.Item{SKU: "A", Quantity: 2}, orders.Item{SKU: "B", Quantity: 3}, orders.Item{SKU: "C", Quantity: 1})); err != nil {
				t.Fatal(err)
			}
			if a, b, c := f.level(t, "A"), f.level(t, "B"), f.level(t, "C"); a != 3 || b != 0 || c != 0 {
				t.Fatalf("levels A=%d B=%d C=%d, want 3 0 0", a, b, c)
			}
		})
	})
}

func TestConcurrentDuplicateCompletion(t *testing.T) {
	sqlstoretest.ForEachDialect(t, store.Migrations, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		f := newFixture(t, db)
		f.stock(t, "A", 10)
		items := []orders.Item{{SKU: "A", Quantity: 3, PriceCents: 100}}
		for _, tc := range []struct {
			name     string
			sameRef  bool
			orderID  string
			wantErrs func(err error) bool
		}{
			{"same event delivered at once", true, "c1", func(err error) bool { return errors.Is(err, orders.ErrConflict) }},
			{"different events completing one order at once", false, "c2", func(err error) bool { return errors.Is(err, orders.ErrAborted) }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := f.level(t, "A")
				const n = 8
				refs := make([]orders.EventRef, n)
				shared := f.ref()
				for i := range refs {
					refs[i] = shared
					if !tc.sameRef {
						refs[i] = f.ref()
					}
				}
				var wg sync.WaitGroup
				errs := make([]error, n)
				for i := range n {
					wg.Go(func() { errs[i] = f.svc.ApplyOrder(ctx, refs[i], completion(tc.orderID, items...)) })
				}
				wg.Wait()
				ok := 0
				for _, err := range errs {
					switch {
					case err == nil:
						ok++
					case tc.wantErrs(err):
					default:
						t.Errorf("unexpected error: %v", err)
					}
				}
				if tc.sameRef && ok != 1 {
					t.Errorf("%d deliveries applied, want 1", ok)
				}
				if got := f.level(t, "A"); got != before-3 {
					t.Errorf("stock = %d, want %d (one decrement)", got, before-3)
				}
				sh, _, err := f.st.ListShipments(ctx, orders.ShipmentFilter{CustomerID: "cust-" + tc.orderID}, orders.Page{})
				if err != nil || len(sh) != 1 {
					t.Errorf("shipments = %d, %v; want 1", len(sh), err)
				}
				ns, _, err := f.st.ListNotifications(ctx, orders.NotificationFilter{OrderID: tc.orderID}, orders.Page{})
				if err != nil || len(ns) != 1 {
					t.Errorf("notifications = %d, %v; want 1", len(ns), err)
				}
			})
		}
	})
}
