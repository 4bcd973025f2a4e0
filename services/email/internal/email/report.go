package email

import (
	"context"
	"fmt"
	"time"
	// The schedule's time zone must resolve even in a container without tzdata.
	_ "time/tzdata"
)

// Period is the span a report covers.
type Period string

// Report periods.
const (
	PeriodDaily  Period = "daily"
	PeriodWeekly Period = "weekly"
)

// ReportQuery asks for the figures of one period.
type ReportQuery struct {
	Period Period
	// Start (inclusive) and End (exclusive) are local midnights in Location.
	Start, End time.Time
	Location   *time.Location
}

// Report is what a report email shows.
type Report struct {
	// Figures in display order, e.g. {"user_registered", "12"}.
	Figures []Figure
}

// Figure is one labelled value; the source formats the value.
type Figure struct {
	Label string
	Value string
}

// ReportSource fetches report figures, implemented over gRPC by the analytics
// service's adapter. Errors: wrap ErrUnavailable (possibly as a RetryError) when
// the source may answer later, ErrInvalid for a query it cannot answer.
type ReportSource interface {
	Report(ctx context.Context, q ReportQuery) (Report, error)
}

// reportWindow is the period before the tick: for a daily report due at any time
// on day D (in loc), [D-1 00:00, D 00:00); for a weekly one, the seven days before
// D. Calendar arithmetic keeps DST days 23 or 25 hours long, as they are.
func reportWindow(p Period, due time.Time, loc *time.Location) (time.Time, time.Time, error) {
	local := due.In(loc)
	end := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	switch p {
	case PeriodDaily:
		return end.AddDate(0, 0, -1), end, nil
	case PeriodWeekly:
		return end.AddDate(0, 0, -7), end, nil
	default:
		return time.Time{}, time.Time{}, fmt.Errorf("report period %q: %w", p, ErrInvalid)
	}
}
