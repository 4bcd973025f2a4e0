package cron_test

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/gateway/internal/scheduler/cron"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return loc
}

// nextN returns the first n firings after from.
func nextN(e *cron.Expr, from time.Time, loc *time.Location, n int) []string {
	var out []string
	for t := from; len(out) < n; {
		t = e.Next(t, loc)
		if t.IsZero() {
			out = append(out, "never")
			break
		}
		out = append(out, t.UTC().Format(time.RFC3339))
	}
	return out
}

func TestParseFields(t *testing.T) {
	from := utc("2026-01-01T00:00:00Z") // a Thursday
	for _, tc := range []struct {
		name, expr, normal string
		want               []string // first firings after from, UTC
	}{
		{"every minute", "* * * * *", "* * * * *", []string{"2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"}},
		{"daily report", "0 9 * * *", "0 9 * * *", []string{"2026-01-01T09:00:00Z", "2026-01-02T09:00:00Z"}},
		{"weekly report on monday", "0 9 * * 1", "0 9 * * 1", []string{"2026-01-05T09:00:00Z", "2026-01-12T09:00:00Z"}},
		{"billing on the first", "0 0 1 * *", "0 0 1 * *", []string{"2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"}},
		{"hourly health check", "0 * * * *", "0 * * * *", []string{"2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"}},
		{"cleanup", "0 2 * * *", "0 2 * * *", []string{"2026-01-01T02:00:00Z", "2026-01-02T02:00:00Z"}},
		{"list", "5,10,55 * * * *", "5,10,55 * * * *", []string{"2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z", "2026-01-01T00:55:00Z", "2026-01-01T01:05:00Z"}},
		{"range", "0 22-23 * * *", "0 22-23 * * *", []string{"2026-01-01T22:00:00Z", "2026-01-01T23:00:00Z", "2026-01-02T22:00:00Z"}},
		{"star step", "*/20 * * * *", "*/20 * * * *", []string{"2026-01-01T00:20:00Z", "2026-01-01T00:40:00Z", "2026-01-01T01:00:00Z"}},
		{"range step", "5-55/25 1 * * *", "5-55/25 1 * * *", []string{"2026-01-01T01:05:00Z", "2026-01-01T01:30:00Z", "2026-01-01T01:55:00Z", "2026-01-02T01:05:00Z"}},
		{"step larger than range", "10-12/5 0 * * *", "10-12/5 0 * * *", []string{"2026-01-01T00:10:00Z", "2026-01-02T00:10:00Z"}},
		{"leading zeros", "05 09 01 01 *", "05 09 01 01 *", []string{"2026-01-01T09:05:00Z", "2027-01-01T09:05:00Z"}},
		{"month names", "0 0 1 jan,Jul *", "0 0 1 jan,Jul *", []string{"2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
		{"month name range", "0 0 1 MAR-APR *", "0 0 1 MAR-APR *", []string{"2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z", "2027-03-01T00:00:00Z"}},
		{"weekday names", "0 12 * * sat,SUN", "0 12 * * sat,SUN", []string{"2026-01-03T12:00:00Z", "2026-01-04T12:00:00Z", "2026-01-10T12:00:00Z"}},
		{"weekday name range", "0 0 * * MON-wed", "0 0 * * MON-wed", []string{"2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z", "2026-01-07T00:00:00Z", "2026-01-12T00:00:00Z"}},
		{"sunday as 7", "0 0 * * 7", "0 0 * * 7", []string{"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}},
		{"sunday as 0", "0 0 * * 0", "0 0 * * 0", []string{"2026-01-04T00:00:00Z"}},
		{"range up to 7", "0 0 * * 5-7", "0 0 * * 5-7", []string{"2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-09T00:00:00Z"}},
		{"dom or dow when both restricted", "0 0 13 * 5", "0 0 13 * 5", []string{"2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-13T00:00:00Z", "2026-01-16T00:00:00Z"}},
		{"dom and dow when dom starts with star", "0 0 */2 * 5", "0 0 */2 * 5", []string{"2026-01-09T00:00:00Z", "2026-01-23T00:00:00Z", "2026-02-13T00:00:00Z"}},
		{"dom and dow when dow starts with star", "0 0 13 * */1", "0 0 13 * */1", []string{"2026-01-13T00:00:00Z", "2026-02-13T00:00:00Z"}},
		{"31st skips short months", "0 0 31 * *", "0 0 31 * *", []string{"2026-01-31T00:00:00Z", "2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z"}},
		{"leap day", "0 0 29 2 *", "0 0 29 2 *", []string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
		{"extra spaces and tabs", "  0\t9  * *   1 ", "0 9 * * 1", []string{"2026-01-05T09:00:00Z"}},
		{"@yearly", "@yearly", "0 0 1 1 *", []string{"2027-01-01T00:00:00Z"}},
		{"@annually", "@annually", "0 0 1 1 *", []string{"2027-01-01T00:00:00Z"}},
		{"@monthly", "@monthly", "0 0 1 * *", []string{"2026-02-01T00:00:00Z"}},
		{"@weekly", "@weekly", "0 0 * * 0", []string{"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}},
		{"@daily", "@daily", "0 0 * * *", []string{"2026-01-02T00:00:00Z"}},
		{"@midnight", "@midnight", "0 0 * * *", []string{"2026-01-02T00:00:00Z"}},
		{"@hourly", "@hourly", "0 * * * *", []string{"2026-01-01T01:00:00Z"}},
		{"shorthand case-insensitive", "@Daily", "0 0 * * *", []string{"2026-01-02T00:00:00Z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := cron.Parse(tc.expr)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.expr, err)
			}
			if e.String() != tc.normal {
				t.Errorf("String() = %q, want %q", e.String(), tc.normal)
			}
			got := nextN(e, from, time.UTC, len(tc.want))
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("firings\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	for _, tc := range []struct{ name, expr, mention string }{
		{"empty", "", "0 fields"},
		{"four fields", "* * * *", "4 fields"},
		{"six fields", "0 * * * * *", "6 fields"},
		{"minute too large", "60 * * * *", "minute"},
		{"hour too large", "* 24 * * *", "hour"},
		{"day of month zero", "* * 0 * *", "day of month"},
		{"day of month 32", "* * 32 * *", "day of month"},
		{"month zero", "* * * 0 *", "month"},
		{"month 13", "* * * 13 *", "month"},
		{"day of week 8", "* * * * 8", "day of week"},
		{"negative", "-1 * * * *", "minute"},
		{"plus sign", "+5 * * * *", "minute"},
		{"letters", "a * * * *", "minute"},
		{"bad month name", "* * * JANUARY *", "month"},
		{"month name in day field", "* * JAN * *", "day of month"},
		{"weekday name in month field", "* * * MON *", "month"},
		{"step zero", "*/0 * * * *", "step"},
		{"step too large", "*/60 * * * *", "step"},
		{"step on a single value", "5/10 * * * *", "needs * or a range"},
		{"step not a number", "*/x * * * *", "step"},
		{"double slash", "*/2/3 * * * *", "step"},
		{"backwards range", "9-3 * * * *", "backwards"},
		{"open range", "5- * * * *", "minute"},
		{"empty list item", "1,,2 * * * *", "minute"},
		{"trailing comma", "1, * * * *", "minute"},
		{"question mark", "0 0 ? * *", "day of month"},
		{"L", "0 0 L * *", "day of month"},
		{"hash", "0 0 * * 5#3", "day of week"},
		{"huge number", "99999999999999999999 * * * *", "minute"},
		{"february 30", "0 0 30 2 *", "never fires"},
		{"november 31", "0 0 31 11 *", "never fires"},
		{"unknown shorthand", "@reboot", "unknown shorthand"},
		{"every", "@every 5m", "unknown shorthand"},
		{"too long", strings.Repeat("1,", 600) + "1 * * * *", "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := cron.Parse(tc.expr)
			if err == nil {
				t.Fatalf("Parse(%q) = %q, want an error", tc.expr, e)
			}
			if !errors.Is(err, cron.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %q", err, tc.mention)
			}
		})
	}
}

// TestNextDST pins down the daylight-saving rules in both directions, in two zones.
func TestNextDST(t *testing.T) {
	for _, tc := range []struct {
		name, zone, expr, from string
		want                   []string // firings, UTC
	}{
		// Europe/Berlin springs forward on 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC).
		{"berlin spring: missing 02:30 fires when the gap ends", "Europe/Berlin", "30 2 * * *", "2026-03-27T12:00:00Z",
			[]string{"2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"}},
		{"berlin spring: hourly skips the missing hour", "Europe/Berlin", "0 * * * *", "2026-03-28T23:30:00Z",
			[]string{"2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"}},
		{"berlin spring: quarter hours in the gap collapse into one", "Europe/Berlin", "*/15 * * * *", "2026-03-29T00:40:00Z",
			[]string{"2026-03-29T00:45:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:15:00Z"}},
		{"berlin spring: 03:00 itself fires once", "Europe/Berlin", "0 3 * * *", "2026-03-28T12:00:00Z",
			[]string{"2026-03-29T01:00:00Z", "2026-03-30T01:00:00Z"}},
		{"berlin spring: times around the gap are exact", "Europe/Berlin", "59 1 * * *", "2026-03-28T12:00:00Z",
			[]string{"2026-03-29T00:59:00Z", "2026-03-29T23:59:00Z"}},
		// Europe/Berlin falls back on 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00 UTC).
		{"berlin fall: repeated 02:30 fires once, at the first pass", "Europe/Berlin", "30 2 * * *", "2026-10-24T12:00:00Z",
			[]string{"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
		{"berlin fall: hourly fires once in the repeated hour", "Europe/Berlin", "0 * * * *", "2026-10-24T23:30:00Z",
			[]string{"2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z"}},
		{"berlin fall: from inside the second pass", "Europe/Berlin", "*/30 * * * *", "2026-10-25T01:10:00Z",
			[]string{"2026-10-25T02:00:00Z", "2026-10-25T02:30:00Z"}},
		{"berlin fall: 03:00 is not repeated", "Europe/Berlin", "0 3 * * *", "2026-10-24T12:00:00Z",
			[]string{"2026-10-25T02:00:00Z", "2026-10-26T02:00:00Z"}},
		// America/New_York springs forward on 2026-03-08 (02:00 EST -> 03:00 EDT = 07:00 UTC)
		// and falls back on 2026-11-01 (02:00 EDT -> 01:00 EST = 06:00 UTC).
		{"new york spring: missing 02:15 fires at 03:00 EDT", "America/New_York", "15 2 * * *", "2026-03-07T00:00:00Z",
			[]string{"2026-03-07T07:15:00Z", "2026-03-08T07:00:00Z", "2026-03-09T06:15:00Z"}},
		{"new york fall: repeated 01:30 fires once", "America/New_York", "30 1 * * *", "2026-10-31T12:00:00Z",
			[]string{"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
		{"new york fall: hourly at :59 pauses during the second pass", "America/New_York", "59 * * * *", "2026-11-01T04:00:00Z",
			[]string{"2026-11-01T04:59:00Z", "2026-11-01T05:59:00Z", "2026-11-01T07:59:00Z"}},
		{"new york weekly across the change", "America/New_York", "0 9 * * 1", "2026-10-26T00:00:00Z",
			[]string{"2026-10-26T13:00:00Z", "2026-11-02T14:00:00Z"}},
		{"utc has no changes", "UTC", "30 2 * * *", "2026-03-28T12:00:00Z",
			[]string{"2026-03-29T02:30:00Z", "2026-03-30T02:30:00Z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loc := mustLoad(t, tc.zone)
			got := nextN(cron.MustParse(tc.expr), utc(tc.from), loc, len(tc.want))
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("firings\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestNextReturnsLocation(t *testing.T) {
	loc := mustLoad(t, "Europe/Berlin")
	got := cron.MustParse("0 9 * * *").Next(utc("2026-06-01T00:00:00Z"), loc)
	if got.Location() != loc || got.Hour() != 9 {
		t.Errorf("Next = %v, want 09:00 in Europe/Berlin", got)
	}
	if got := cron.MustParse("0 9 * * *").Next(utc("2026-06-01T00:00:00Z"), nil); !got.Equal(utc("2026-06-01T09:00:00Z")) {
		t.Errorf("Next with nil location = %v, want 09:00 UTC", got)
	}
}

// TestNextMatchesBruteForce checks Next against a minute-by-minute scan in UTC for
// random expressions.
func TestNextMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(lo, hi int) string {
		switch rng.IntN(5) {
		case 0:
			return "*"
		case 1:
			return "*/" + itoa(1+rng.IntN(hi))
		case 2:
			a := lo + rng.IntN(hi-lo+1)
			b := a + rng.IntN(hi-a+1)
			return itoa(a) + "-" + itoa(b)
		case 3:
			return itoa(lo+rng.IntN(hi-lo+1)) + "," + itoa(lo+rng.IntN(hi-lo+1))
		}
		return itoa(lo + rng.IntN(hi-lo+1))
	}
	from := utc("2026-02-20T13:07:00Z")
	for range 200 {
		expr := strings.Join([]string{pick(0, 59), pick(0, 23), pick(1, 31), pick(1, 12), pick(0, 7)}, " ")
		e, err := cron.Parse(expr)
		if err != nil {
			continue // e.g. "0 0 30 2 *"
		}
		got := e.Next(from, time.UTC)
		want := time.Time{}
		for m := from.Add(time.Minute); m.Before(from.AddDate(0, 0, 15)); m = m.Add(time.Minute) {
			if e.Matches(m) {
				want = m
				break
			}
		}
		if want.IsZero() {
			if got.Before(from.AddDate(0, 0, 15)) {
				t.Errorf("%q: Next = %v, but nothing matches in the next 15 days", expr, got)
			}
			continue
		}
		if !got.Equal(want) {
			t.Errorf("%q: Next = %v, brute force %v", expr, got, want)
		}
	}
}

func itoa(n int) string {
	const digits = "0123456789"
	if n < 10 {
		return digits[n : n+1]
	}
	return itoa(n/10) + digits[n%10:n%10+1]
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustParse accepted an invalid expression")
		}
	}()
	cron.MustParse("nope")
}
