package cron_test

import (
	"errors"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/gateway/internal/scheduler/cron"
)

// FuzzParse: Parse never panics, fails only with ErrInvalid, and whatever it accepts
// fires after any instant, in zones with and without daylight saving, at a wall time
// it matches (or where a gap ends), with nothing skipped. The seed corpus is in
// testdata/fuzz/FuzzParse; run with: go test -fuzz=FuzzParse ./internal/scheduler/cron/
func FuzzParse(f *testing.F) {
	var locs []*time.Location
	for _, name := range []string{"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"} {
		loc, err := time.LoadLocation(name)
		if err != nil {
			f.Fatalf("load %s: %v", name, err)
		}
		locs = append(locs, loc)
	}
	// Instants just before DST changes in those zones and a plain one.
	froms := []time.Time{
		time.Date(2026, 3, 29, 0, 40, 0, 0, time.UTC),
		time.Date(2026, 10, 25, 0, 10, 0, 0, time.UTC),
		time.Date(2026, 11, 1, 5, 10, 0, 0, time.UTC),
		time.Date(2026, 4, 4, 14, 50, 0, 0, time.UTC),
		time.Date(2026, 7, 1, 12, 0, 30, 0, time.UTC),
	}
	f.Fuzz(func(t *testing.T, text string) {
		e, err := cron.Parse(text)
		if err != nil {
			if !errors.Is(err, cron.ErrInvalid) {
				t.Fatalf("Parse(%q): error %v does not wrap ErrInvalid", text, err)
			}
			return
		}
		again, err := cron.Parse(e.String())
		if err != nil || again.String() != e.String() {
			t.Fatalf("normal form %q of %q does not parse back: %v", e.String(), text, err)
		}
		for _, loc := range locs {
			for _, from := range froms {
				next := e.Next(from, loc)
				if !next.After(from) {
					t.Fatalf("%q in %s: Next(%v) = %v, not after it", text, loc, from, next)
				}
				_, offNow := next.Zone()
				_, offBefore := next.Add(-time.Second).Zone()
				if !e.Matches(next) && offNow == offBefore {
					t.Fatalf("%q in %s: Next(%v) = %v, which neither matches nor ends a gap", text, loc, from, next)
				}
				// Nothing is skipped: asking from just before next gives next again.
				if mid := next.Add(-time.Second); mid.After(from) {
					if again := e.Next(mid, loc); !again.Equal(next) {
						t.Fatalf("%q in %s: Next(%v) = %v but Next(%v) = %v", text, loc, from, next, mid, again)
					}
				}
				if after := e.Next(next, loc); !after.After(next) {
					t.Fatalf("%q in %s: Next(%v) = %v, not after it", text, loc, next, after)
				}
			}
		}
	})
}
