package config

import (
	"fmt"
	"strconv"
	"strings"
)

// cronFields are the five standard fields: minute hour day-of-month month day-of-week.
var cronFields = []struct {
	name     string
	min, max int
	names    []string // three-letter names, index = value - offset
	offset   int
}{
	{name: "minute", min: 0, max: 59},
	{name: "hour", min: 0, max: 23},
	{name: "day of month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, names: []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}, offset: 1},
	{name: "day of week", min: 0, max: 7, names: []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}},
}

// CheckCron validates a five-field cron expression (as Hasura's cron triggers take):
// each field a comma list of *, N or N-M, optionally /step; months and weekdays may
// use three-letter names; day of week 0 and 7 are Sunday.
func CheckCron(expr string) error {
	fields := strings.Fields(expr)
	if len(fields) != 5 {
		return fmt.Errorf("cron %q must have 5 fields (minute hour day-of-month month day-of-week)", expr)
	}
	for i, f := range fields {
		spec := cronFields[i]
		for _, part := range strings.Split(f, ",") {
			if err := checkCronPart(part, spec.min, spec.max, spec.names, spec.offset); err != nil {
				return fmt.Errorf("cron %q: %s field %q: %w", expr, spec.name, f, err)
			}
		}
	}
	return nil
}

func checkCronPart(part string, lo, hi int, names []string, offset int) error {
	rng, step, hasStep := strings.Cut(part, "/")
	if hasStep {
		n, err := strconv.Atoi(step)
		if err != nil || n < 1 || n > hi {
			return fmt.Errorf("invalid step %q", step)
		}
	}
	if rng == "*" {
		return nil
	}
	a, b, isRange := strings.Cut(rng, "-")
	x, err := cronValue(a, lo, hi, names, offset)
	if err != nil {
		return err
	}
	if !isRange {
		if hasStep {
			return fmt.Errorf("a step needs * or a range")
		}
		return nil
	}
	y, err := cronValue(b, lo, hi, names, offset)
	if err != nil {
		return err
	}
	if y < x {
		return fmt.Errorf("range %q runs backwards", rng)
	}
	return nil
}

func cronValue(s string, lo, hi int, names []string, offset int) (int, error) {
	for i, n := range names {
		if strings.EqualFold(s, n) {
			return i + offset, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("value %q is not in %d-%d", s, lo, hi)
	}
	return v, nil
}
