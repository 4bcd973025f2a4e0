package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/platform/sqlstore"
	"github.com/hookmesh/hookmesh/platform/sqlstore/sqlstoretest"
	"github.com/hookmesh/hookmesh/services/analytics/internal/analytics"
	"github.com/hookmesh/hookmesh/services/analytics/internal/store"
)

var t0 = time.Date(2026, 3, 2, 10, 15, 0, 0, time.UTC)

func rec(id, typ string, at time.Time, users ...string) analytics.Record {
	return analytics.Record{
		Source: "test", EventID: id, Type: typ, Name: typ, OccurredAt: at,
		UserIDs: users, Properties: map[string]any{"k": "v"},
	}
}

func order(id string, at time.Time, cents, items int64, user string) analytics.Record {
	r := rec(id, "hasura.public.orders.update", at, user)
	r.Metrics = []analytics.Metric{{Name: analytics.OrderCompleted, AmountCents: cents, Items: items}}
	r.Name = analytics.OrderCompleted
	return r
}

func newStore(t *testing.T, db *sqlstore.DB) *store.Store {
	t.Helper()
	s, err := store.New(db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func counts(t *testing.T, s *store.Store, since, until time.Time, glob string) map[string]int64 {
	t.Helper()
	rows, err := s.HourlyCounts(t.Context(), since, until, glob)
	if err != nil {
		t.Fatalf("HourlyCounts: %v", err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.Name] += r.Count
	}
	return out
}

func TestApply(t *testing.T) {
	sqlstoretest.ForEachDialect(t, store.Migrations(), func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		s := newStore(t, db)
		batch := []analytics.Record{
			rec("1", "github.push", t0, "u1"),
			order("2", t0.Add(time.Minute), 1250, 3, "u2"),
			rec("1", "github.push", t0, "u1"), // same (source, id) in the same batch
			order("3", t0.Add(2*time.Hour), 100, 1, "u1"),
		}
		res, err := s.Apply(ctx, batch)
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		wantRes := []error{nil, nil, analytics.ErrDuplicate, nil}
		for i := range wantRes {
			if !errors.Is(res[i], wantRes[i]) || (wantRes[i] == nil && res[i] != nil) {
				t.Errorf("result %d = %v, want %v", i, res[i], wantRes[i])
			}
		}
		// A later batch with a seen id is a duplicate, with no second effect.
		res, err = s.Apply(ctx, []analytics.Record{order("2", t0, 1250, 3, "u2")})
		if err != nil || !errors.Is(res[0], analytics.ErrDuplicate) {
			t.Fatalf("re-apply = %v, %v; want ErrDuplicate", res, err)
		}

		got := counts(t, s, t0.Add(-time.Hour), t0.Add(24*time.Hour), "")
		want := map[string]int64{"github.push": 1, "hasura.public.orders.update": 2, analytics.OrderCompleted: 2}
		if len(got) != len(want) {
			t.Errorf("counts = %v, want %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("count[%s] = %d, want %d", k, got[k], v)
			}
		}
		rows, err := s.HourlyCounts(ctx, t0.Add(-time.Hour), t0.Add(24*time.Hour), analytics.OrderCompleted)
		if err != nil {
			t.Fatal(err)
		}
		var amount, items int64
		for _, r := range rows {
			if !r.Tracked {
				t.Errorf("%s counted untracked", r.Name)
			}
			amount += r.AmountCents
			items += r.Items
		}
		if amount != 1350 || items != 4 || len(rows) != 2 {
			t.Errorf("order_completed rows %+v: amount %d items %d, want 2 rows, 1350, 4", rows, amount, items)
		}
		hour := t0.Truncate(time.Hour)
		per, total, err := s.DistinctUsers(ctx, []analytics.Range{
			{Start: hour, End: hour.Add(time.Hour)},
			{Start: hour.Add(time.Hour), End: hour.Add(3 * time.Hour)},
		})
		if err != nil {
			t.Fatal(err)
		}
		if per[0] != 2 || per[1] != 1 || total != 2 {
			t.Errorf("distinct users = %v total %d, want [2 1] total 2", per, total)
		}
	})
}

func TestApplyPoisonRollsBackAlone(t *testing.T) {
	sqlstoretest.ForEachDialect(t, store.Migrations(), func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		s := newStore(t, db)
		// The schema refuses types longer than 255 characters: a data error inside
		// the transaction, after the processed marker was written.
		poison := rec("p", "x."+strings.Repeat("y", 300), t0, "px")
		res, err := s.Apply(ctx, []analytics.Record{rec("a", "t.a", t0, "u1"), poison, rec("b", "t.b", t0, "u2")})
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if res[0] != nil || res[2] != nil {
			t.Errorf("healthy results = %v, %v; want nil", res[0], res[2])
		}
		if !errors.Is(res[1], analytics.ErrInvalid) {
			t.Errorf("poison result = %v, want ErrInvalid", res[1])
		}
		got := counts(t, s, t0.Add(-time.Hour), t0.Add(time.Hour), "")
		if got["t.a"] != 1 || got["t.b"] != 1 || len(got) != 2 {
			t.Errorf("counts = %v, want t.a and t.b once each", got)
		}
		_, total, err := s.DistinctUsers(ctx, []analytics.Range{{Start: t0.Add(-time.Hour), End: t0.Add(time.Hour)}})
		if err != nil || total != 2 {
			t.Errorf("distinct users = %d, %v; want 2 (the poison's user not counted)", total, err)
		}
		// The poison's processed marker was rolled back with it: a corrected event
		// with the same identity applies.
		res, err = s.Apply(ctx, []analytics.Record{rec("p", "x.fixed", t0, "px")})
		if err != nil || res[0] != nil {
			t.Fatalf("corrected event = %v, %v; want applied", res, err)
		}
	})
}

func TestCleanupKeepsAggregates(t *testing.T) {
	sqlstoretest.ForEachDialect(t, store.Migrations(), func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		s := newStore(t, db)
		old, recent := t0.AddDate(0, 0, -100), t0.AddDate(0, 0, -10)
		if _, err := s.Apply(ctx, []analytics.Record{rec("old", "t.x", old, "u1"), rec("new", "t.x", recent, "u2")}); err != nil {
			t.Fatal(err)
		}
		cleanup := rec("c1", "cron.cleanup", t0)
		cleanup.CleanupBefore = t0.AddDate(0, 0, -90)
		res, err := s.Apply(ctx, []analytics.Record{cleanup})
		if err != nil || res[0] != nil {
			t.Fatalf("cleanup = %v, %v", res, err)
		}
		for id, want := range map[string]bool{"old": false, "new": true, "c1": true} {
			got, err := s.EventStored(ctx, "test", id)
			if err != nil || got != want {
				t.Errorf("raw event %s stored = %v, %v; want %v", id, got, err, want)
			}
		}
		if got := counts(t, s, old.Add(-time.Hour), t0.Add(time.Hour), "t.*"); got["t.x"] != 2 {
			t.Errorf("count t.x after cleanup = %d, want 2 (aggregates kept)", got["t.x"])
		}
		_, total, err := s.DistinctUsers(ctx, []analytics.Range{{Start: old.Truncate(time.Hour), End: t0}})
		if err != nil || total != 2 {
			t.Errorf("distinct users after cleanup = %d, %v; want 2", total, err)
		}
		// The expired event stays processed: a redelivery does not count it again.
		res, err = s.Apply(ctx, []analytics.Record{rec("old", "t.x", old, "u1")})
		if err != nil || !errors.Is(res[0], analytics.ErrDuplicate) {
			t.Errorf("redelivered expired event = %v, %v; want ErrDuplicate", res, err)
		}
	})
}

func TestHourlyCountsGlob(t *testing.T) {
	sqlstoretest.ForEachDialect(t, store.Migrations(), func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		s := newStore(t, db)
		types := []string{"stripe.payment_intent.succeeded", "stripe.charge.refunded", "github.push", "Stripe.upper", "a_b.c", "axb.c", "pct%.x"}
		var recs []analytics.Record
		for i, typ := range types {
			recs = append(recs, rec(string(rune('a'+i)), typ, t0))
		}
		if _, err := s.Apply(ctx, recs); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			glob string
			want []string
		}{
			{"*", types}, // every name
			{"stripe.*", []string{"stripe.payment_intent.succeeded", "stripe.charge.refunded"}},
			{"*.succeeded", []string{"stripe.payment_intent.succeeded"}},
			{"github.push", []string{"github.push"}},
			{"a_b.c", []string{"a_b.c"}}, // "_" is literal, not LIKE's any-character
			{"pct%.*", []string{"pct%.x"}},
			{"**", types},
			{"nothing.*", nil},
		}
		for _, tc := range tests {
			t.Run(tc.glob, func(t *testing.T) {
				got := counts(t, s, t0.Add(-time.Hour), t0.Add(time.Hour), tc.glob)
				if len(got) != len(tc.want) {
					t.Errorf("glob %q matched %v, want %v", tc.glob, got, tc.want)
				}
				for _, w := range tc.want {
					if got[w] != 1 {
						t.Errorf("glob %q: %s = %d, want 1", tc.glob, w, got[w])
					}
				}
			})
		}
		if _, err := s.HourlyCounts(ctx, t0, t0.Add(time.Hour), ""); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDistinctUsersRejectsGaps(t *testing.T) {
	db := sqlstoretest.SQLite(t, store.Migrations())
	s := newStore(t, db)
	_, _, err := s.DistinctUsers(t.Context(), []analytics.Range{
		{Start: t0, End: t0.Add(time.Hour)}, {Start: t0.Add(2 * time.Hour), End: t0.Add(3 * time.Hour)},
	})
	if err == nil {
		t.Fatal("DistinctUsers accepted ranges with a gap")
	}
}

func TestManyRangesAndRows(t *testing.T) {
	sqlstoretest.ForEachDialect(t, store.Migrations(), func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		s := newStore(t, db)
		// More distinct (hour, name) keys than one statement carries.
		var recs []analytics.Record
		for i := 0; i < 450; i++ {
			recs = append(recs, rec("r"+string(rune('A'+i%26))+time.Duration(i).String(), "t.x", t0.Add(time.Duration(i)*time.Hour), "u"+time.Duration(i%7).String()))
		}
		res, err := s.Apply(ctx, recs)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r != nil {
				t.Fatalf("result %d = %v", i, r)
			}
		}
		start := t0.Truncate(time.Hour)
		var ranges []analytics.Range
		for i := 0; i < 450; i++ {
			h := start.Add(time.Duration(i) * time.Hour)
			ranges = append(ranges, analytics.Range{Start: h, End: h.Add(time.Hour)})
		}
		per, total, err := s.DistinctUsers(ctx, ranges)
		if err != nil {
			t.Fatal(err)
		}
		for i, n := range per {
			if n != 1 {
				t.Fatalf("range %d: %d users, want 1", i, n)
			}
		}
		if total != 7 {
			t.Errorf("total = %d, want 7", total)
		}
		if got := counts(t, s, start, start.Add(450*time.Hour), "t.x"); got["t.x"] != 450 {
			t.Errorf("t.x = %d, want 450", got["t.x"])
		}
	})
}

func TestApplyFailsWholeBatchWhenDatabaseIsGone(t *testing.T) {
	db := sqlstoretest.SQLite(t, store.Migrations())
	s := newStore(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := s.Apply(t.Context(), []analytics.Record{rec("1", "t.x", t0)})
	if err == nil {
		t.Fatalf("Apply on a closed database = %v, nil; want an error", res)
	}
}
