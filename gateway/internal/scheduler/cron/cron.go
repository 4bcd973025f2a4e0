// Package cron parses five-field cron expressions and computes when they fire in a
// time zone, with defined behaviour across daylight-saving changes.
//
// Syntax (as Hasura's cron triggers and Vixie cron take it): five fields separated by
// spaces, minute (0-59), hour (0-23), day of month (1-31), month (1-12 or JAN-DEC)
// and day of week (0-7 or SUN-SAT; 0 and 7 are Sunday). Each field is a comma list
// of "*", "N", "N-M", "*/S" or "N-M/S"; names are case-insensitive. The shorthands
// @yearly (= @annually), @monthly, @weekly, @daily (= @midnight) and @hourly stand
// for "0 0 1 1 *", "0 0 1 * *", "0 0 * * 0", "0 0 * * *" and "0 * * * *".
//
// Day matching follows Vixie cron: when both the day-of-month and the day-of-week
// field are restricted (neither starts with "*"), a day matches if either does;
// otherwise both must match. "0 0 13 * 5" fires on every 13th and every Friday,
// "0 0 */2 * 5" on Fridays with an odd day of month.
//
// An expression that can never fire ("0 0 30 2 *") is rejected by Parse.
package cron

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid marks every error Parse returns.
var ErrInvalid = errors.New("invalid cron expression")

// Expr is a parsed cron expression. It is immutable and safe for concurrent use.
type Expr struct {
	text                   string
	minute, hour, dom, dow uint64 // bit i set = value i matches (dow: 0 = Sunday)
	month                  uint64 // bits 1-12
	domStar, dowStar       bool   // the field started with "*" (Vixie's DOM_STAR/DOW_STAR)
}

type field struct {
	name   string
	lo, hi int
	names  []string // names[i] is value i+offset
	offset int
}

var fields = [5]field{
	{name: "minute", lo: 0, hi: 59},
	{name: "hour", lo: 0, hi: 23},
	{name: "day of month", lo: 1, hi: 31},
	{name: "month", lo: 1, hi: 12, names: []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}, offset: 1},
	{name: "day of week", lo: 0, hi: 7, names: []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}},
}

var shorthands = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

// maxLen bounds the input; real expressions are a few dozen bytes.
const maxLen = 1024

// Parse parses a five-field expression or a shorthand. Errors wrap ErrInvalid and
// name the field and the offending part.
func Parse(text string) (*Expr, error) {
	if len(text) > maxLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, maxLen)
	}
	spec := strings.TrimSpace(text)
	if strings.HasPrefix(spec, "@") {
		full, ok := shorthands[strings.ToLower(spec)]
		if !ok {
			return nil, fmt.Errorf("%w: %q: unknown shorthand (want @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)", ErrInvalid, spec)
		}
		spec = full
	}
	parts := strings.Fields(spec)
	if len(parts) != 5 {
		return nil, fmt.Errorf("%w: %q has %d fields, want 5 (minute hour day-of-month month day-of-week)", ErrInvalid, text, len(parts))
	}
	e := &Expr{text: strings.Join(parts, " ")}
	sets := [5]*uint64{&e.minute, &e.hour, &e.dom, &e.month, &e.dow}
	for i, p := range parts {
		set, err := parseField(p, fields[i])
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %s field %q: %w", ErrInvalid, text, fields[i].name, p, err)
		}
		*sets[i] = set
	}
	if e.dow&(1<<7) != 0 {
		e.dow = e.dow&^(1<<7) | 1 // 7 is Sunday
	}
	e.domStar = strings.HasPrefix(parts[2], "*")
	e.dowStar = strings.HasPrefix(parts[4], "*")
	if !e.feasible() {
		return nil, fmt.Errorf("%w: %q never fires: no month in it has such a day", ErrInvalid, text)
	}
	return e, nil
}

// MustParse is Parse for expressions known to be valid (tests, constants); it panics
// on an error.
func MustParse(text string) *Expr {
	e, err := Parse(text)
	if err != nil {
		panic(err)
	}
	return e
}

// String is the expression in normal form (a shorthand expanded, single spaces).
func (e *Expr) String() string { return e.text }

func parseField(s string, f field) (uint64, error) {
	var set uint64
	for part := range strings.SplitSeq(s, ",") {
		rng, stepText, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := number(stepText)
			if err != nil || n < 1 || n > f.hi {
				return 0, fmt.Errorf("step %q is not in 1-%d", stepText, f.hi)
			}
			step = n
		}
		var a, b int
		switch rng {
		case "*":
			a, b = f.lo, f.hi
		default:
			from, to, isRange := strings.Cut(rng, "-")
			var err error
			if a, err = value(from, f); err != nil {
				return 0, err
			}
			b = a
			if isRange {
				if b, err = value(to, f); err != nil {
					return 0, err
				}
				if b < a {
					return 0, fmt.Errorf("range %q runs backwards", rng)
				}
			} else if hasStep {
				return 0, fmt.Errorf("step in %q needs * or a range before it", part)
			}
		}
		for v := a; v <= b; v += step {
			set |= 1 << v
		}
	}
	return set, nil
}

func value(s string, f field) (int, error) {
	for i, n := range f.names {
		if strings.EqualFold(s, n) {
			return i + f.offset, nil
		}
	}
	v, err := number(s)
	if err != nil || v < f.lo || v > f.hi {
		return 0, fmt.Errorf("value %q is not in %d-%d", s, f.lo, f.hi)
	}
	return v, nil
}

// number accepts decimal digits only (no sign, no spaces), at most 4 of them.
func number(s string) (int, error) {
	if s == "" || len(s) > 4 {
		return 0, strconv.ErrSyntax
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, strconv.ErrSyntax
		}
	}
	return strconv.Atoi(s)
}

// daysIn is the longest each month gets (February 29 in leap years).
var daysIn = [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// feasible reports whether some real date matches. Only a restricted day of month
// under an unrestricted day of week can miss every month ("30 2"); any other
// combination matches day 1 or some weekday, and weekdays cycle through every date.
func (e *Expr) feasible() bool {
	if e.domStar || !e.dowStar {
		return true
	}
	for m := 1; m <= 12; m++ {
		if e.month&(1<<m) != 0 && e.dom&(1<<(daysIn[m]+1)-1) != 0 {
			return true
		}
	}
	return false
}

// Matches reports whether the wall-clock minute of t (in t's location) matches.
func (e *Expr) Matches(t time.Time) bool {
	return e.month&(1<<int(t.Month())) != 0 && e.dayMatches(t) &&
		e.hour&(1<<t.Hour()) != 0 && e.minute&(1<<t.Minute()) != 0
}

func (e *Expr) dayMatches(t time.Time) bool {
	d := e.dom&(1<<t.Day()) != 0
	w := e.dow&(1<<int(t.Weekday())) != 0
	if e.domStar || e.dowStar {
		return d && w
	}
	return d || w
}

// searchYears bounds the search for the next matching date: a weekday restriction
// on the first of a month repeats within 11 years, February 29 within 8.
const searchYears = 30

// nextWall returns the earliest matching wall-clock minute at or after w. Wall times
// are represented in UTC, which has no daylight-saving changes.
func (e *Expr) nextWall(w time.Time) (time.Time, bool) {
	w = w.Truncate(time.Minute)
	end := w.AddDate(searchYears, 0, 0)
	for !w.After(end) {
		y, m, d := w.Date()
		if e.month&(1<<int(m)) == 0 {
			w = time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if !e.dayMatches(w) {
			w = time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
			continue
		}
		for h, mi := w.Hour(), w.Minute(); h < 24; h, mi = h+1, 0 {
			if e.hour&(1<<h) == 0 {
				continue
			}
			if rest := e.minute >> mi; rest != 0 {
				return time.Date(y, m, d, h, mi+bits.TrailingZeros64(rest), 0, 0, time.UTC), true
			}
		}
		w = time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
	}
	return time.Time{}, false
}

// maxOverlapSteps bounds the candidates Next skips inside a repeated (fall-back)
// stretch of wall time: at most one per minute of the longest overlap on record.
const maxOverlapSteps = 2 * 24 * 60

// Next returns the first instant strictly after `after` at which e fires in loc
// (nil means UTC), in loc; the zero Time if none comes within 30 years, which Parse
// rules out.
//
// Daylight-saving changes are handled on wall-clock time:
//   - A wall time that does not exist (spring forward: 02:30 on the night clocks jump
//     from 02:00 to 03:00) fires at the next valid instant, the moment the gap ends
//     (03:00). Several nonexistent times of one gap ("*/15" at 02:00-02:45) collapse
//     into that single instant, so it fires once.
//   - A wall time that happens twice (fall back: 02:30 on the night clocks return from
//     03:00 to 02:00) fires once, at its first occurrence (summer time). The second
//     pass through the repeated hour fires nothing, also for "*" hours.
//
// Every other wall time fires at exactly the instant that shows it.
func (e *Expr) Next(after time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	after = after.In(loc)
	w := wallOf(after).Truncate(time.Minute)
	for range maxOverlapSteps {
		m, ok := e.nextWall(w)
		if !ok {
			return time.Time{}
		}
		if at := resolve(m, loc); at.After(after) {
			return at
		}
		// m's first occurrence is not after `after`: skip it (the repeated hour).
		w = m.Add(time.Minute)
	}
	return time.Time{}
}

// wallOf is t's wall clock in its location, expressed in UTC.
func wallOf(t time.Time) time.Time {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, mo, d, h, mi, s, t.Nanosecond(), time.UTC)
}

// resolve maps a wall time (expressed in UTC) to the instant it names in loc: the
// earliest instant showing it, or, if loc skips it, the end of the gap. The mapping
// never decreases as the wall time increases, which is what Next relies on.
func resolve(wall time.Time, loc *time.Location) time.Time {
	u := wall.Unix()
	// The offsets in effect a day before and after bracket every candidate (real
	// offsets lie within ±14 h and zones do not change twice in a day).
	var cands [3]int64
	for i, probe := range [3]int64{u - 86400, u, u + 86400} {
		_, off := time.Unix(probe, 0).In(loc).Zone()
		cands[i] = u - int64(off)
	}
	var best time.Time
	for _, c := range cands {
		at := time.Unix(c, 0).In(loc)
		if wallOf(at).Equal(wall) && (best.IsZero() || at.Before(best)) {
			best = at
		}
	}
	if !best.IsZero() {
		return best
	}
	// A gap: the earliest candidate lies before the transition; its zone ends there.
	lo := min(cands[0], cands[1], cands[2])
	if _, end := time.Unix(lo, 0).In(loc).ZoneBounds(); !end.IsZero() && end.Unix() > lo {
		return end.In(loc)
	}
	// Unreachable with real zone data; keep Go's normalisation rather than fail.
	return time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), 0, 0, loc)
}
