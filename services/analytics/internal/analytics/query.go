package analytics

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Reader is the read side of the store. Both methods see committed data only.
type Reader interface {
	// HourlyCounts returns the non-zero counts of the UTC hours in [since, until),
	// one per (hour, name), for names matching glob ("" = all, "*" = any run).
	HourlyCounts(ctx context.Context, since, until time.Time, glob string) ([]HourlyCount, error)
	// DistinctUsers returns, for each range, the distinct users active in it, and
	// the distinct users active in any of them. Ranges are on whole hours.
	DistinctUsers(ctx context.Context, ranges []Range) (perRange []int64, total int64, err error)
}

// HourlyCount is the count of one name in one UTC hour.
type HourlyCount struct {
	Hour        time.Time
	Name        string
	Tracked     bool
	Count       int64
	AmountCents int64
	Items       int64
}

// Range is a half-open time range [Start, End).
type Range struct {
	Start, End time.Time
}

// Granularity is the width of a count bucket.
type Granularity int

// Granularities.
const (
	Hourly Granularity = iota + 1
	Daily
)

// Limits on ranges, so one request cannot ask for unbounded work.
const (
	maxHourlyRange = 31 * 24 * time.Hour
	maxDays        = 3660
	maxReportRange = 366 * 24 * time.Hour
)

// CountsQuery selects counts.
type CountsQuery struct {
	// Type is an event type, a tracked name or a glob; empty means all.
	Type string
	// Since and Until bound the range; zero values take the defaults.
	Since, Until time.Time
	// Granularity is Hourly (default) or Daily.
	Granularity Granularity
	// TimeZone is the IANA zone of daily buckets; empty means UTC.
	TimeZone string
}

// CountBucket is the count of one name in one bucket.
type CountBucket struct {
	Type    string
	Tracked bool
	Start   time.Time
	Count   int64
}

// Counts is the answer to a CountsQuery.
type Counts struct {
	Buckets      []CountBucket
	Since, Until time.Time
	Granularity  Granularity
}

// UsersQuery selects a range to count distinct users in.
type UsersQuery struct {
	Since, Until time.Time
	TimeZone     string
}

// DayUsers is the distinct users of one day.
type DayUsers struct {
	Date  string
	Start time.Time
	Users int64
}

// Users is the answer to a UsersQuery.
type Users struct {
	Distinct     int64
	Days         []DayUsers
	Since, Until time.Time
}

// ReportKind is the length of a report's period.
type ReportKind int

// Report kinds.
const (
	DailyReport ReportKind = iota + 1
	WeeklyReport
)

// ParseReportKind reads "daily" or "weekly" in any case.
func ParseReportKind(s string) (ReportKind, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "daily":
		return DailyReport, nil
	case "weekly":
		return WeeklyReport, nil
	}
	return 0, fmt.Errorf("%w: report kind %q (want daily or weekly)", ErrInvalid, s)
}

// ReportQuery names a report: a date, a period, or neither (the last complete one).
type ReportQuery struct {
	Kind ReportKind
	// Date is YYYY-MM-DD in TimeZone: a day inside the period.
	Date string
	// TimeZone is the IANA zone of Date and of the default period; empty means UTC.
	TimeZone string
	// PeriodStart and PeriodEnd give the period explicitly instead of Date.
	PeriodStart, PeriodEnd time.Time
}

// TypeCount is the number of events of one type.
type TypeCount struct {
	Type  string
	Count int64
}

// Report holds the figures of one period.
type Report struct {
	Kind                   ReportKind
	PeriodStart, PeriodEnd time.Time
	TimeZone               string
	EventsByType           []TypeCount
	TotalEvents            int64
	NewUsers               int64
	OrdersCompleted        int64
	RevenueCents           int64
	ItemsSold              int64
	PaymentsSucceeded      int64
	PaymentsFailed         int64
	SubscriptionsCreated   int64
	SubscriptionsCancelled int64
	DistinctActiveUsers    int64
	EmailChanges           int64
	NameChanges            int64
}

// ServiceConfig configures a Service.
type ServiceConfig struct {
	// Reader reads the figures. Required.
	Reader Reader
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Service answers questions about the tracked events.
type Service struct {
	cfg ServiceConfig
}

// NewService returns a Service for cfg.
func NewService(cfg ServiceConfig) (*Service, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Reader == nil {
		return nil, errors.New("analytics service: Reader is required")
	}
	return &Service{cfg: cfg}, nil
}

func loadLocation(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		return nil, fmt.Errorf("%w: time zone %q is not an IANA zone name", ErrInvalid, name)
	}
	return loc, nil
}

func floorHour(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }

func ceilHour(t time.Time) time.Time {
	f := floorHour(t)
	if f.Equal(t) {
		return f
	}
	return f.Add(time.Hour)
}

func midnight(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
}

// dayBounds splits [since, until) at the local midnights of loc, each boundary
// rounded down to the hour; the first and last day may be partial.
func dayBounds(since, until time.Time, loc *time.Location) []time.Time {
	bounds := []time.Time{since}
	for m := midnight(since, loc); ; {
		m = time.Date(m.Year(), m.Month(), m.Day()+1, 0, 0, 0, 0, loc)
		b := floorHour(m)
		if !b.Before(until) {
			break
		}
		if b.After(bounds[len(bounds)-1]) {
			bounds = append(bounds, b)
		}
	}
	return append(bounds, until)
}

// resolveRange applies defaults and limits to a [since, until) request.
func (s *Service) resolveRange(since, until time.Time, defaultSpan func(until time.Time) time.Time, limit time.Duration) (time.Time, time.Time, error) {
	if until.IsZero() {
		until = ceilHour(s.cfg.Now())
	} else {
		until = floorHour(until)
	}
	if since.IsZero() {
		since = defaultSpan(until)
	}
	since = floorHour(since)
	if !since.Before(until) {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: since must be before until (on whole hours)", ErrInvalid)
	}
	if until.Sub(since) > limit {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: range longer than %s", ErrInvalid, limit)
	}
	return since, until, nil
}

// Counts returns the counts of q, bucketed per hour or per local day.
func (s *Service) Counts(ctx context.Context, q CountsQuery) (Counts, error) {
	if q.Granularity == 0 {
		q.Granularity = Hourly
	}
	if q.Granularity != Hourly && q.Granularity != Daily {
		return Counts{}, fmt.Errorf("%w: granularity %d", ErrInvalid, q.Granularity)
	}
	if err := validateGlob(q.Type); err != nil {
		return Counts{}, err
	}
	loc, err := loadLocation(q.TimeZone)
	if err != nil {
		return Counts{}, err
	}
	span, limit := func(u time.Time) time.Time { return u.Add(-24 * time.Hour) }, maxHourlyRange
	if q.Granularity == Daily {
		span = func(u time.Time) time.Time { return midnight(u.AddDate(0, 0, -30), loc) }
		limit = maxDays * 24 * time.Hour
	}
	since, until, err := s.resolveRange(q.Since, q.Until, span, limit)
	if err != nil {
		return Counts{}, err
	}
	rows, err := s.cfg.Reader.HourlyCounts(ctx, since, until, q.Type)
	if err != nil {
		return Counts{}, err
	}
	out := Counts{Since: since, Until: until, Granularity: q.Granularity}
	bucketOf := func(h time.Time) time.Time { return h }
	if q.Granularity == Daily {
		bounds := dayBounds(since, until, loc)
		bucketOf = func(h time.Time) time.Time {
			i := sort.Search(len(bounds), func(i int) bool { return bounds[i].After(h) })
			return bounds[i-1]
		}
	}
	type key struct {
		name  string
		start int64
	}
	idx := map[key]int{}
	for _, r := range rows {
		k := key{r.Name, bucketOf(r.Hour).Unix()}
		i, ok := idx[k]
		if !ok {
			i = len(out.Buckets)
			idx[k] = i
			out.Buckets = append(out.Buckets, CountBucket{Type: r.Name, Tracked: r.Tracked, Start: bucketOf(r.Hour)})
		}
		out.Buckets[i].Count += r.Count
	}
	slices.SortFunc(out.Buckets, func(a, b CountBucket) int {
		return cmp.Or(strings.Compare(a.Type, b.Type), a.Start.Compare(b.Start))
	})
	return out, nil
}

// DistinctUsers counts the users active in q's range, in total and per local day.
func (s *Service) DistinctUsers(ctx context.Context, q UsersQuery) (Users, error) {
	loc, err := loadLocation(q.TimeZone)
	if err != nil {
		return Users{}, err
	}
	since, until, err := s.resolveRange(q.Since, q.Until,
		func(u time.Time) time.Time { return u.Add(-7 * 24 * time.Hour) }, maxDays*24*time.Hour)
	if err != nil {
		return Users{}, err
	}
	bounds := dayBounds(since, until, loc)
	ranges := make([]Range, 0, len(bounds)-1)
	for i := 0; i+1 < len(bounds); i++ {
		ranges = append(ranges, Range{Start: bounds[i], End: bounds[i+1]})
	}
	per, total, err := s.cfg.Reader.DistinctUsers(ctx, ranges)
	if err != nil {
		return Users{}, err
	}
	if len(per) != len(ranges) {
		return Users{}, fmt.Errorf("distinct users: %d answers for %d days", len(per), len(ranges))
	}
	out := Users{Distinct: total, Since: since, Until: until}
	for i, r := range ranges {
		// The day a part belongs to is the local day of its middle, which is right
		// even when a boundary was rounded down across midnight.
		mid := r.Start.Add(r.End.Sub(r.Start) / 2).In(loc)
		out.Days = append(out.Days, DayUsers{Date: mid.Format(time.DateOnly), Start: r.Start, Users: per[i]})
	}
	return out, nil
}

// reportPeriod resolves q to the period it covers.
func (s *Service) reportPeriod(q ReportQuery, loc *time.Location) (time.Time, time.Time, error) {
	explicit := !q.PeriodStart.IsZero() || !q.PeriodEnd.IsZero()
	if explicit {
		if q.Date != "" {
			return time.Time{}, time.Time{}, fmt.Errorf("%w: give a date or a period, not both", ErrInvalid)
		}
		if q.PeriodStart.IsZero() || q.PeriodEnd.IsZero() {
			return time.Time{}, time.Time{}, fmt.Errorf("%w: a period needs both period_start and period_end", ErrInvalid)
		}
		start, end := floorHour(q.PeriodStart), floorHour(q.PeriodEnd)
		if !start.Before(end) {
			return time.Time{}, time.Time{}, fmt.Errorf("%w: period_start must be before period_end (on whole hours)", ErrInvalid)
		}
		if end.Sub(start) > maxReportRange {
			return time.Time{}, time.Time{}, fmt.Errorf("%w: period longer than %s", ErrInvalid, maxReportRange)
		}
		return start, end, nil
	}
	var day time.Time
	if q.Date != "" {
		d, err := time.ParseInLocation(time.DateOnly, q.Date, loc)
		if err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("%w: date %q is not YYYY-MM-DD", ErrInvalid, q.Date)
		}
		day = d
	}
	var start, end time.Time
	switch q.Kind {
	case DailyReport:
		if day.IsZero() {
			today := midnight(s.cfg.Now(), loc)
			day = time.Date(today.Year(), today.Month(), today.Day()-1, 0, 0, 0, 0, loc)
		}
		start, end = day, time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, loc)
	case WeeklyReport:
		if day.IsZero() {
			today := midnight(s.cfg.Now(), loc)
			day = time.Date(today.Year(), today.Month(), today.Day()-7, 0, 0, 0, 0, loc)
		}
		back := (int(day.Weekday()) + 6) % 7 // days since Monday
		start = time.Date(day.Year(), day.Month(), day.Day()-back, 0, 0, 0, 0, loc)
		end = time.Date(start.Year(), start.Month(), start.Day()+7, 0, 0, 0, 0, loc)
	default:
		return time.Time{}, time.Time{}, fmt.Errorf("%w: report kind %d", ErrInvalid, q.Kind)
	}
	return floorHour(start), floorHour(end), nil
}

// Report computes the figures of the report q names.
func (s *Service) Report(ctx context.Context, q ReportQuery) (Report, error) {
	if q.Kind != DailyReport && q.Kind != WeeklyReport {
		return Report{}, fmt.Errorf("%w: report kind %d", ErrInvalid, q.Kind)
	}
	loc, err := loadLocation(q.TimeZone)
	if err != nil {
		return Report{}, err
	}
	start, end, err := s.reportPeriod(q, loc)
	if err != nil {
		return Report{}, err
	}
	rows, err := s.cfg.Reader.HourlyCounts(ctx, start, end, "")
	if err != nil {
		return Report{}, err
	}
	_, users, err := s.cfg.Reader.DistinctUsers(ctx, []Range{{Start: start, End: end}})
	if err != nil {
		return Report{}, err
	}
	rep := Report{Kind: q.Kind, PeriodStart: start, PeriodEnd: end, TimeZone: loc.String(), DistinctActiveUsers: users}
	byType := map[string]int64{}
	for _, r := range rows {
		if !r.Tracked {
			byType[r.Name] += r.Count
			rep.TotalEvents += r.Count
			continue
		}
		switch r.Name {
		case UserRegistered:
			rep.NewUsers += r.Count
		case UserEmailChanged:
			rep.EmailChanges += r.Count
		case UserNameChanged:
			rep.NameChanges += r.Count
		case OrderCompleted:
			rep.OrdersCompleted += r.Count
			rep.RevenueCents += r.AmountCents
			rep.ItemsSold += r.Items
		case PaymentSucceeded:
			rep.PaymentsSucceeded += r.Count
		case PaymentFailed:
			rep.PaymentsFailed += r.Count
		case SubscriptionCreated:
			rep.SubscriptionsCreated += r.Count
		case SubscriptionCancelled:
			rep.SubscriptionsCancelled += r.Count
		}
	}
	for t, n := range byType {
		rep.EventsByType = append(rep.EventsByType, TypeCount{Type: t, Count: n})
	}
	slices.SortFunc(rep.EventsByType, func(a, b TypeCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Type, b.Type))
	})
	return rep, nil
}

// validateGlob rejects type filters no event type or tracked name can match.
func validateGlob(g string) error {
	if len(g) > 255 {
		return fmt.Errorf("%w: type filter longer than 255 characters", ErrInvalid)
	}
	if strings.ContainsAny(g, " \t\r\n") {
		return fmt.Errorf("%w: type filter %q contains white space", ErrInvalid, g)
	}
	return nil
}
