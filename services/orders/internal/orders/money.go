package orders

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseCents reads an amount in currency units (19.99, "19.99", 20) as cents.
// Hasura sends numeric columns as JSON numbers or strings; anything finer than a
// cent is rejected rather than rounded, so money never changes silently.
func ParseCents(v any) (int64, error) {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, Invalidf("amount %v is not a number", x)
		}
		return parseDecimalCents(strconv.FormatFloat(x, 'f', -1, 64))
	case json.Number:
		return parseDecimalCents(x.String())
	case string:
		return parseDecimalCents(strings.TrimSpace(x))
	case int:
		return mulCents(int64(x))
	case int64:
		return mulCents(x)
	case nil:
		return 0, Invalidf("amount is missing")
	default:
		return 0, Invalidf("amount has type %T, want a number", v)
	}
}

func mulCents(units int64) (int64, error) {
	if units > math.MaxInt64/100 || units < math.MinInt64/100 {
		return 0, Invalidf("amount %d is out of range", units)
	}
	return units * 100, nil
}

func parseDecimalCents(s string) (int64, error) {
	orig := s
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" {
		return 0, Invalidf("amount %q is not a decimal number", orig)
	}
	for _, part := range []string{whole, frac} {
		for _, r := range part {
			if r < '0' || r > '9' {
				return 0, Invalidf("amount %q is not a decimal number", orig)
			}
		}
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > 2 {
		return 0, Invalidf("amount %q has fractions of a cent", orig)
	}
	frac += strings.Repeat("0", 2-len(frac))
	if whole == "" {
		whole = "0"
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, Invalidf("amount %q is out of range", orig)
	}
	cents, err := mulCents(w)
	if err != nil {
		return 0, err
	}
	f, _ := strconv.ParseInt(frac, 10, 64) // two checked digits
	if cents > math.MaxInt64-f {
		return 0, Invalidf("amount %q is out of range", orig)
	}
	cents += f
	if neg {
		cents = -cents
	}
	return cents, nil
}

// FormatCents writes cents as a decimal amount, e.g. 1999 as "19.99".
func FormatCents(c int64) string {
	sign := ""
	u := uint64(c)
	if c < 0 {
		sign, u = "-", uint64(-c)
	}
	return fmt.Sprintf("%s%d.%02d", sign, u/100, u%100)
}
