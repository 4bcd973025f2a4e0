package email

import (
	"math"
	"net/mail"
	"strconv"
	"strings"
	"unicode"

	"google.golang.org/protobuf/types/known/structpb"
)

// Helpers reading loosely typed JSON (Hasura rows, service facts, schedule
// payloads): ids arrive as numbers or strings, numeric columns as numbers or
// strings (Hasura's stringify-numeric option).

// field returns the first present, non-null value among keys; a key with a dot
// looks one level down ("customer.email").
func field(s *structpb.Struct, keys ...string) *structpb.Value {
	for _, k := range keys {
		cur := s
		parts := strings.Split(k, ".")
		for i, p := range parts {
			if cur == nil {
				break
			}
			v, ok := cur.GetFields()[p]
			if !ok {
				break
			}
			if i == len(parts)-1 {
				if _, null := v.GetKind().(*structpb.Value_NullValue); !null && v.GetKind() != nil {
					return v
				}
				break
			}
			cur = v.GetStructValue()
		}
	}
	return nil
}

// text renders a scalar as a string: integral numbers without a fraction.
func text(v *structpb.Value) string {
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return strings.TrimSpace(k.StringValue)
	case *structpb.Value_NumberValue:
		f := k.NumberValue
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return strconv.FormatInt(int64(f), 10)
		}
		return strconv.FormatFloat(f, 'f', -1, 64)
	case *structpb.Value_BoolValue:
		return strconv.FormatBool(k.BoolValue)
	default:
		return ""
	}
}

// integer reads a whole number (number or numeric string); ok is false otherwise.
func integer(v *structpb.Value) (int64, bool) {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		f := k.NumberValue
		if f != math.Trunc(f) || math.Abs(f) >= 1<<53 {
			return 0, false
		}
		return int64(f), true
	case *structpb.Value_StringValue:
		n, err := strconv.ParseInt(strings.TrimSpace(k.StringValue), 10, 64)
		return n, err == nil
	default:
		return 0, false
	}
}

// money formats an amount (number or numeric string) with two decimals; ok is
// false for anything else.
func money(v *structpb.Value) (string, bool) {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		if math.IsNaN(k.NumberValue) || math.IsInf(k.NumberValue, 0) {
			return "", false
		}
		return strconv.FormatFloat(k.NumberValue, 'f', 2, 64), true
	case *structpb.Value_StringValue:
		f, err := strconv.ParseFloat(strings.TrimSpace(k.StringValue), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return "", false
		}
		return strconv.FormatFloat(f, 'f', 2, 64), true
	default:
		return "", false
	}
}

// address parses a bare address column; the display name, if any, is dropped.
func address(raw string) (string, bool) {
	raw = strings.TrimSpace(raw)
	if raw == "" || strings.ContainsAny(raw, "\r\n") {
		return "", false
	}
	a, err := mail.ParseAddress(raw)
	if err != nil || !strings.Contains(a.Address, "@") {
		return "", false
	}
	return a.Address, true
}

// maxNameRunes bounds user-supplied display names that end up in headers.
const maxNameRunes = 100

// cleanName makes a user-supplied name safe to put anywhere: control characters
// become spaces, runs of spaces collapse, and it is cut to maxNameRunes.
func cleanName(s string) string {
	var b strings.Builder
	space := false
	n := 0
	for _, r := range strings.TrimSpace(s) {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
			n++
		}
		space = false
		if n >= maxNameRunes {
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
