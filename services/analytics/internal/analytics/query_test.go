package analytics

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// memReader is an in-memory Reader (the seam between the domain and the store; the
// store's own tests cover the SQL).
type memReader struct {
	counts []HourlyCount
	active map[time.Time][]string // hour -> users
	ranges [][]Range              // DistinctUsers calls
	err    error
}

func (m *memReader) HourlyCounts(_ context.Context, since, until time.Time, glob string) ([]HourlyCount, error) {
	if m.err != nil {
		return nil, m.err
	}
	var out []HourlyCount
	for _, c := range m.counts {
		if c.Hour.Before(since) || !c.Hour.Before(until) {
			continue
		}
		if glob != "" && glob != c.Name && (!strings.HasSuffix(glob, "*") || !strings.HasPrefix(c.Name, strings.TrimSuffix(glob, "*"))) {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

func (m *memReader) DistinctUsers(_ context.Context, ranges []Range) ([]int64, int64, error) {
	if m.err != nil {
		return nil, 0, m.err
	}
	m.ranges = append(m.ranges, ranges)
	per := make([]int64, len(ranges))
	all := map[string]bool{}
	for i, r := range ranges {
		seen := map[string]bool{}
		for h, users := range m.active {
			if h.Before(r.Start) || !h.Before(r.End) {
				continue
			}
			for _, u := range users {
				seen[u] = true
				all[u] = true
			}
		}
		per[i] = int64(len(seen))
	}
	return per, int64(len(all)), nil
}

func newService(t *testing.T, r Reader, at time.Time) *Service {
	t.Helper()
	s, err := NewService(ServiceConfig{Reader: r, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func hc(hour time.Time, name string, n int64) HourlyCount {
	return HourlyCount{Hour: hour, Name: name, Tracked: !strings.Contains(name, "."), Count: n}
}

func TestCountsHourly(t *testing.T) {
	h := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	r := &memReader{counts: []HourlyCount{
		hc(h, "github.push", 2), hc(h.Add(time.Hour), "github.push", 1), hc(h, OrderCompleted, 4),
		hc(h.Add(-48*time.Hour), "github.push", 9), // outside the default 24 hours
	}}
	s := newService(t, r, h.Add(90*time.Minute))
	got, err := s.Counts(t.Context(), CountsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	// The default until (now, 09:30) rounds up so the current hour counts.
	if !got.Until.Equal(h.Add(2*time.Hour)) || !got.Since.Equal(h.Add(-22*time.Hour)) || got.Granularity != Hourly {
		t.Errorf("range %s..%s granularity %d", got.Since, got.Until, got.Granularity)
	}
	want := []CountBucket{
		{Type: "github.push", Start: h, Count: 2},
		{Type: "github.push", Start: h.Add(time.Hour), Count: 1},
		{Type: OrderCompleted, Tracked: true, Start: h, Count: 4},
	}
	if !slices.EqualFunc(got.Buckets, want, func(a, b CountBucket) bool {
		return a.Type == b.Type && a.Tracked == b.Tracked && a.Start.Equal(b.Start) && a.Count == b.Count
	}) {
		t.Errorf("buckets = %+v, want %+v", got.Buckets, want)
	}
	// An explicit until is rounded down.
	got, err = s.Counts(t.Context(), CountsQuery{Type: "github.*", Since: h.Add(10 * time.Minute), Until: h.Add(70 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Buckets) != 1 || got.Buckets[0].Count != 2 || !got.Since.Equal(h) || !got.Until.Equal(h.Add(time.Hour)) {
		t.Errorf("explicit range: %+v", got)
	}
}

func TestCountsDaily(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	tests := []struct {
		name   string
		zone   string
		hours  []time.Time // one event of "t.x" per hour
		starts []time.Time // expected bucket starts, in order
		counts []int64
	}{
		{
			name:   "utc",
			hours:  []time.Time{utc(2026, 3, 9, 0), utc(2026, 3, 9, 23), utc(2026, 3, 10, 0)},
			starts: []time.Time{utc(2026, 3, 9, 0), utc(2026, 3, 10, 0)},
			counts: []int64{2, 1},
		},
		{
			name: "berlin across the spring DST change",
			zone: "Europe/Berlin",
			// 2026-03-29 is 23 hours long in Berlin: 23:00 UTC the 28th to 22:00 UTC the 29th.
			hours:  []time.Time{utc(2026, 3, 28, 23), utc(2026, 3, 29, 21), utc(2026, 3, 29, 22)},
			starts: []time.Time{time.Date(2026, 3, 29, 0, 0, 0, 0, berlin).UTC(), time.Date(2026, 3, 30, 0, 0, 0, 0, berlin).UTC()},
			counts: []int64{2, 1},
		},
		{
			name: "half-hour offset rounds the midnight down",
			zone: "Asia/Kolkata",
			// Midnight in Kolkata is 18:30 UTC; the day starts at 18:00 UTC.
			hours:  []time.Time{utc(2026, 3, 9, 17), utc(2026, 3, 9, 18)},
			starts: []time.Time{time.Date(2026, 3, 9, 0, 0, 0, 0, kolkata).UTC().Truncate(time.Hour), time.Date(2026, 3, 10, 0, 0, 0, 0, kolkata).UTC().Truncate(time.Hour)},
			counts: []int64{1, 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &memReader{}
			for _, h := range tc.hours {
				r.counts = append(r.counts, hc(h, "t.x", 1))
			}
			s := newService(t, r, utc(2026, 4, 1, 0))
			got, err := s.Counts(t.Context(), CountsQuery{Granularity: Daily, TimeZone: tc.zone, Since: utc(2026, 3, 1, 0)})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Buckets) != len(tc.starts) {
				t.Fatalf("buckets = %+v, want starts %v", got.Buckets, tc.starts)
			}
			for i, b := range got.Buckets {
				if !b.Start.Equal(tc.starts[i]) || b.Count != tc.counts[i] {
					t.Errorf("bucket %d = %s %d, want %s %d", i, b.Start, b.Count, tc.starts[i], tc.counts[i])
				}
			}
		})
	}
}

func utc(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, time.UTC) }

func TestCountsRejects(t *testing.T) {
	at := utc(2026, 3, 10, 12)
	tests := []struct {
		name string
		q    CountsQuery
	}{
		{"until before since", CountsQuery{Since: at, Until: at.Add(-time.Hour)}},
		{"empty after rounding", CountsQuery{Since: at.Add(time.Minute), Until: at.Add(30 * time.Minute)}},
		{"too many hours", CountsQuery{Since: at.AddDate(0, 0, -40), Until: at}},
		{"too many days", CountsQuery{Granularity: Daily, Since: at.AddDate(-11, 0, 0), Until: at}},
		{"unknown granularity", CountsQuery{Granularity: 9}},
		{"bad zone", CountsQuery{Granularity: Daily, TimeZone: "Mars/Olympus"}},
		{"local zone", CountsQuery{Granularity: Daily, TimeZone: "Local"}},
		{"white space in type", CountsQuery{Type: "a b"}},
		{"type too long", CountsQuery{Type: strings.Repeat("x", 256)}},
	}
	s := newService(t, &memReader{}, at)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Counts(t.Context(), tc.q); !errors.Is(err, ErrInvalid) {
				t.Errorf("Counts = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestDistinctUsers(t *testing.T) {
	r := &memReader{active: map[time.Time][]string{
		utc(2026, 3, 8, 10): {"a", "b"},
		utc(2026, 3, 9, 1):  {"a"},
		utc(2026, 3, 9, 23): {"c"}, // 00:00 on the 10th in Berlin
	}}
	s := newService(t, r, utc(2026, 3, 10, 12))
	got, err := s.DistinctUsers(t.Context(), UsersQuery{Since: utc(2026, 3, 8, 0), Until: utc(2026, 3, 10, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if got.Distinct != 3 || len(got.Days) != 2 || got.Days[0].Date != "2026-03-08" || got.Days[0].Users != 2 || got.Days[1].Users != 2 {
		t.Errorf("utc: %+v", got)
	}
	got, err = s.DistinctUsers(t.Context(), UsersQuery{Since: utc(2026, 3, 7, 23), Until: utc(2026, 3, 10, 23), TimeZone: "Europe/Berlin"})
	if err != nil {
		t.Fatal(err)
	}
	dates := []string{}
	users := []int64{}
	for _, d := range got.Days {
		dates = append(dates, d.Date)
		users = append(users, d.Users)
	}
	if !slices.Equal(dates, []string{"2026-03-08", "2026-03-09", "2026-03-10"}) || !slices.Equal(users, []int64{2, 1, 1}) || got.Distinct != 3 {
		t.Errorf("berlin: dates %v users %v distinct %d", dates, users, got.Distinct)
	}
	// Default: the last 7 days up to the end of the current hour.
	got, err = s.DistinctUsers(t.Context(), UsersQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Until.Equal(utc(2026, 3, 10, 12)) || !got.Since.Equal(utc(2026, 3, 3, 12)) || len(got.Days) != 8 {
		t.Errorf("default range %s..%s with %d days", got.Since, got.Until, len(got.Days))
	}
	if _, err := s.DistinctUsers(t.Context(), UsersQuery{TimeZone: "nowhere"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad zone: %v", err)
	}
	if _, err := s.DistinctUsers(t.Context(), UsersQuery{Since: utc(2000, 1, 1, 0)}); !errors.Is(err, ErrInvalid) {
		t.Errorf("range over 3660 days: %v", err)
	}
}

func TestReportPeriod(t *testing.T) {
	// Wednesday 2026-03-11, 09:00 UTC.
	at := utc(2026, 3, 11, 9)
	ny, _ := time.LoadLocation("America/New_York")
	tests := []struct {
		name       string
		q          ReportQuery
		start, end time.Time
	}{
		{"daily default: yesterday", ReportQuery{Kind: DailyReport}, utc(2026, 3, 10, 0), utc(2026, 3, 11, 0)},
		{"weekly default: last week", ReportQuery{Kind: WeeklyReport}, utc(2026, 3, 2, 0), utc(2026, 3, 9, 0)},
		{"daily date", ReportQuery{Kind: DailyReport, Date: "2026-02-28"}, utc(2026, 2, 28, 0), utc(2026, 3, 1, 0)},
		{"weekly date on a Sunday", ReportQuery{Kind: WeeklyReport, Date: "2026-03-08"}, utc(2026, 3, 2, 0), utc(2026, 3, 9, 0)},
		{"weekly date on a Monday", ReportQuery{Kind: WeeklyReport, Date: "2026-03-09"}, utc(2026, 3, 9, 0), utc(2026, 3, 16, 0)},
		{"daily date in a zone across DST", ReportQuery{Kind: DailyReport, Date: "2026-03-08", TimeZone: "America/New_York"},
			time.Date(2026, 3, 8, 0, 0, 0, 0, ny).UTC(), time.Date(2026, 3, 9, 0, 0, 0, 0, ny).UTC()},
		{"explicit period", ReportQuery{Kind: WeeklyReport, PeriodStart: utc(2026, 1, 1, 0).Add(30 * time.Minute), PeriodEnd: utc(2026, 1, 3, 5)},
			utc(2026, 1, 1, 0), utc(2026, 1, 3, 5)},
	}
	s := newService(t, &memReader{}, at)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := s.Report(t.Context(), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.PeriodStart.Equal(tc.start) || !rep.PeriodEnd.Equal(tc.end) {
				t.Errorf("period %s..%s, want %s..%s", rep.PeriodStart, rep.PeriodEnd, tc.start, tc.end)
			}
		})
	}
}

func TestReportRejects(t *testing.T) {
	at := utc(2026, 3, 11, 9)
	tests := []struct {
		name string
		q    ReportQuery
	}{
		{"no kind", ReportQuery{}},
		{"bad date", ReportQuery{Kind: DailyReport, Date: "11/03/2026"}},
		{"bad zone", ReportQuery{Kind: DailyReport, TimeZone: "Europe/Nowhere"}},
		{"date and period", ReportQuery{Kind: DailyReport, Date: "2026-03-01", PeriodStart: at.Add(-time.Hour), PeriodEnd: at}},
		{"half a period", ReportQuery{Kind: DailyReport, PeriodStart: at}},
		{"period backwards", ReportQuery{Kind: DailyReport, PeriodStart: at, PeriodEnd: at.Add(-time.Hour)}},
		{"period too long", ReportQuery{Kind: WeeklyReport, PeriodStart: at.AddDate(-2, 0, 0), PeriodEnd: at}},
	}
	s := newService(t, &memReader{}, at)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Report(t.Context(), tc.q); !errors.Is(err, ErrInvalid) {
				t.Errorf("Report = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestReportFigures(t *testing.T) {
	day := utc(2026, 3, 10, 0)
	r := &memReader{
		counts: []HourlyCount{
			hc(day.Add(1*time.Hour), "hasura.public.users.insert", 3),
			hc(day.Add(1*time.Hour), UserRegistered, 3),
			hc(day.Add(2*time.Hour), "hasura.public.orders.update", 5),
			{Hour: day.Add(2 * time.Hour), Name: OrderCompleted, Tracked: true, Count: 2, AmountCents: 2550, Items: 4},
			{Hour: day.Add(5 * time.Hour), Name: OrderCompleted, Tracked: true, Count: 1, AmountCents: 100, Items: 1},
			hc(day.Add(3*time.Hour), "stripe.payment_intent.succeeded", 2), hc(day.Add(3*time.Hour), PaymentSucceeded, 2),
			hc(day.Add(3*time.Hour), "stripe.payment_intent.payment_failed", 1), hc(day.Add(3*time.Hour), PaymentFailed, 1),
			hc(day.Add(4*time.Hour), "stripe.customer.subscription.created", 1), hc(day.Add(4*time.Hour), SubscriptionCreated, 1),
			hc(day.Add(4*time.Hour), "stripe.customer.subscription.deleted", 1), hc(day.Add(4*time.Hour), SubscriptionCancelled, 1),
			hc(day.Add(6*time.Hour), "hasura.public.users.update", 2), hc(day.Add(6*time.Hour), UserEmailChanged, 1), hc(day.Add(6*time.Hour), UserNameChanged, 2),
			hc(day.Add(30*time.Hour), "github.push", 7), // the next day
		},
		active: map[time.Time][]string{day.Add(time.Hour): {"a", "b"}, day.Add(5 * time.Hour): {"b", "c"}, day.Add(26 * time.Hour): {"z"}},
	}
	s := newService(t, r, utc(2026, 3, 11, 9))
	rep, err := s.Report(t.Context(), ReportQuery{Kind: DailyReport})
	if err != nil {
		t.Fatal(err)
	}
	want := Report{
		Kind: DailyReport, PeriodStart: day, PeriodEnd: day.Add(24 * time.Hour), TimeZone: "UTC",
		EventsByType: []TypeCount{
			{"hasura.public.orders.update", 5}, {"hasura.public.users.insert", 3}, {"hasura.public.users.update", 2},
			{"stripe.payment_intent.succeeded", 2}, {"stripe.customer.subscription.created", 1},
			{"stripe.customer.subscription.deleted", 1}, {"stripe.payment_intent.payment_failed", 1},
		},
		TotalEvents: 15, NewUsers: 3, OrdersCompleted: 3, RevenueCents: 2650, ItemsSold: 5,
		PaymentsSucceeded: 2, PaymentsFailed: 1, SubscriptionsCreated: 1, SubscriptionsCancelled: 1,
		DistinctActiveUsers: 3, EmailChanges: 1, NameChanges: 2,
	}
	if !slices.Equal(rep.EventsByType, want.EventsByType) {
		t.Errorf("events by type = %v\nwant %v", rep.EventsByType, want.EventsByType)
	}
	rep.EventsByType, want.EventsByType = nil, nil
	if !reflect.DeepEqual(rep, want) {
		t.Errorf("report = %+v\nwant     %+v", rep, want)
	}
}

func TestReaderErrorsPropagate(t *testing.T) {
	boom := errors.New("store down")
	s := newService(t, &memReader{err: boom}, utc(2026, 3, 11, 9))
	ctx := t.Context()
	if _, err := s.Counts(ctx, CountsQuery{}); !errors.Is(err, boom) {
		t.Errorf("Counts = %v", err)
	}
	if _, err := s.DistinctUsers(ctx, UsersQuery{}); !errors.Is(err, boom) {
		t.Errorf("DistinctUsers = %v", err)
	}
	if _, err := s.Report(ctx, ReportQuery{Kind: WeeklyReport}); !errors.Is(err, boom) {
		t.Errorf("Report = %v", err)
	}
	if _, err := NewService(ServiceConfig{}); err == nil {
		t.Error("NewService accepted no Reader")
	}
}

func TestParseReportKind(t *testing.T) {
	for in, want := range map[string]ReportKind{"daily": DailyReport, "WEEKLY": WeeklyReport, " Daily ": DailyReport} {
		if got, err := ParseReportKind(in); err != nil || got != want {
			t.Errorf("ParseReportKind(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "monthly", "REPORT_KIND_DAILY"} {
		if _, err := ParseReportKind(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseReportKind(%q) = %v, want ErrInvalid", in, err)
		}
	}
}
