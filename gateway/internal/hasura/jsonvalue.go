package hasura

import (
	"errors"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/structpb"
)

// A one-pass JSON parser that builds google.protobuf.Value trees directly, so a row
// is parsed once and its Struct is reused as the event's old/new without a detour
// through map[string]any. Invalid UTF-8 becomes U+FFFD (as encoding/json does), since
// protobuf strings must be valid UTF-8.

// maxDepth bounds nesting so a hostile body cannot exhaust the stack.
const maxDepth = 512

// errSyntax marks input that is not JSON; other parse errors are shape errors.
var errSyntax = errors.New("not valid JSON")

type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return e.msg + " at offset " + strconv.Itoa(e.off) }
func (e *syntaxError) Unwrap() error { return errSyntax }

// errUnsupported is JSON that protobuf cannot hold (numbers out of float64 range,
// nesting deeper than maxDepth).
type errUnsupported struct{ msg string }

func (e *errUnsupported) Error() string { return e.msg }

type parser struct {
	data []byte
	pos  int
}

// parseJSON parses one JSON document (surrounding whitespace allowed).
func parseJSON(data []byte) (*structpb.Value, error) {
	p := parser{data: data}
	p.skipSpace()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return nil, p.syntax("unexpected data after the JSON value")
	}
	return v, nil
}

func (p *parser) syntax(msg string) error { return &syntaxError{off: p.pos, msg: msg} }

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (*structpb.Value, error) {
	if p.pos >= len(p.data) {
		return nil, p.syntax("unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		if depth >= maxDepth {
			return nil, &errUnsupported{msg: "JSON nested deeper than " + strconv.Itoa(maxDepth)}
		}
		s, err := p.object(depth + 1)
		if err != nil {
			return nil, err
		}
		v := &structValue{k: structpb.Value_StructValue{StructValue: s}}
		v.v.Kind = &v.k
		return &v.v, nil
	case c == '[':
		if depth >= maxDepth {
			return nil, &errUnsupported{msg: "JSON nested deeper than " + strconv.Itoa(maxDepth)}
		}
		l, err := p.array(depth + 1)
		if err != nil {
			return nil, err
		}
		v := &listValue{k: structpb.Value_ListValue{ListValue: l}}
		v.v.Kind = &v.k
		return &v.v, nil
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		v := &stringValue{k: structpb.Value_StringValue{StringValue: s}}
		v.v.Kind = &v.k
		return &v.v, nil
	case c == 't':
		if err := p.literal("true"); err != nil {
			return nil, err
		}
		v := &boolValue{k: structpb.Value_BoolValue{BoolValue: true}}
		v.v.Kind = &v.k
		return &v.v, nil
	case c == 'f':
		if err := p.literal("false"); err != nil {
			return nil, err
		}
		v := &boolValue{}
		v.v.Kind = &v.k
		return &v.v, nil
	case c == 'n':
		if err := p.literal("null"); err != nil {
			return nil, err
		}
		v := &nullValue{}
		v.v.Kind = &v.k
		return &v.v, nil
	case c == '-' || (c >= '0' && c <= '9'):
		f, err := p.number()
		if err != nil {
			return nil, err
		}
		v := &numberValue{k: structpb.Value_NumberValue{NumberValue: f}}
		v.v.Kind = &v.k
		return &v.v, nil
	default:
		return nil, p.syntax("unexpected character " + strconv.QuoteRune(rune(c)))
	}
}

// A Value and its Kind wrapper in one allocation instead of two; the Value points
// into its own struct, which the garbage collector keeps whole.
type (
	structValue struct {
		v structpb.Value
		k structpb.Value_StructValue
	}
	listValue struct {
		v structpb.Value
		k structpb.Value_ListValue
	}
	stringValue struct {
		v structpb.Value
		k structpb.Value_StringValue
	}
	boolValue struct {
		v structpb.Value
		k structpb.Value_BoolValue
	}
	nullValue struct {
		v structpb.Value
		k structpb.Value_NullValue
	}
	numberValue struct {
		v structpb.Value
		k structpb.Value_NumberValue
	}
)

func (p *parser) literal(word string) error {
	if len(p.data)-p.pos < len(word) || string(p.data[p.pos:p.pos+len(word)]) != word {
		return p.syntax("invalid literal")
	}
	p.pos += len(word)
	return nil
}

func (p *parser) object(depth int) (*structpb.Struct, error) {
	p.pos++ // '{'
	fields := make(map[string]*structpb.Value, 8)
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return &structpb.Struct{Fields: fields}, nil
	}
	for {
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.syntax("expected a string key")
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.syntax("expected ':'")
		}
		p.pos++
		p.skipSpace()
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		fields[key] = v // a repeated key keeps its last value, as encoding/json does
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.syntax("unexpected end of input in object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
			p.skipSpace()
		case '}':
			p.pos++
			return &structpb.Struct{Fields: fields}, nil
		default:
			return nil, p.syntax("expected ',' or '}'")
		}
	}
}

func (p *parser) array(depth int) (*structpb.ListValue, error) {
	p.pos++ // '['
	var values []*structpb.Value
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return &structpb.ListValue{Values: []*structpb.Value{}}, nil
	}
	for {
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		values = append(values, v)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.syntax("unexpected end of input in array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
			p.skipSpace()
		case ']':
			p.pos++
			return &structpb.ListValue{Values: values}, nil
		default:
			return nil, p.syntax("expected ',' or ']'")
		}
	}
}

// number validates the JSON number grammar and converts it to float64.
func (p *parser) number() (float64, error) {
	start := p.pos
	d := p.data
	if p.pos < len(d) && d[p.pos] == '-' {
		p.pos++
	}
	switch {
	case p.pos < len(d) && d[p.pos] == '0':
		p.pos++
	case p.pos < len(d) && d[p.pos] >= '1' && d[p.pos] <= '9':
		for p.pos < len(d) && d[p.pos] >= '0' && d[p.pos] <= '9' {
			p.pos++
		}
	default:
		return 0, p.syntax("invalid number")
	}
	if p.pos < len(d) && d[p.pos] == '.' {
		p.pos++
		if p.pos >= len(d) || d[p.pos] < '0' || d[p.pos] > '9' {
			return 0, p.syntax("invalid number")
		}
		for p.pos < len(d) && d[p.pos] >= '0' && d[p.pos] <= '9' {
			p.pos++
		}
	}
	if p.pos < len(d) && (d[p.pos] == 'e' || d[p.pos] == 'E') {
		p.pos++
		if p.pos < len(d) && (d[p.pos] == '+' || d[p.pos] == '-') {
			p.pos++
		}
		if p.pos >= len(d) || d[p.pos] < '0' || d[p.pos] > '9' {
			return 0, p.syntax("invalid number")
		}
		for p.pos < len(d) && d[p.pos] >= '0' && d[p.pos] <= '9' {
			p.pos++
		}
	}
	f, err := strconv.ParseFloat(string(d[start:p.pos]), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, &errUnsupported{msg: "number " + strconv.Quote(string(d[start:p.pos])) + " is out of range"}
	}
	return f, nil
}

// str parses a JSON string starting at the opening quote.
func (p *parser) str() (string, error) {
	p.pos++ // opening quote
	start := p.pos
	d := p.data
	// Fast path: no escapes, ASCII or valid UTF-8.
	for p.pos < len(d) {
		c := d[p.pos]
		if c == '"' {
			s := d[start:p.pos]
			p.pos++
			if utf8.Valid(s) {
				return string(s), nil
			}
			return string([]rune(string(s))), nil // replaces invalid bytes with U+FFFD
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", p.syntax("control character in string")
		}
		p.pos++
	}
	if p.pos >= len(d) {
		return "", p.syntax("unterminated string")
	}
	buf := make([]byte, 0, p.pos-start+16)
	buf = append(buf, d[start:p.pos]...)
	for p.pos < len(d) {
		c := d[p.pos]
		switch {
		case c == '"':
			p.pos++
			if utf8.Valid(buf) {
				return string(buf), nil
			}
			return string([]rune(string(buf))), nil
		case c < 0x20:
			return "", p.syntax("control character in string")
		case c != '\\':
			buf = append(buf, c)
			p.pos++
			continue
		}
		// escape
		p.pos++
		if p.pos >= len(d) {
			return "", p.syntax("unterminated escape")
		}
		e := d[p.pos]
		p.pos++
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.syntax("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				// A high surrogate must be followed by \u low surrogate; else U+FFFD.
				if p.pos+6 <= len(d) && d[p.pos] == '\\' && d[p.pos+1] == 'u' {
					save := p.pos
					p.pos += 2
					r2, ok2 := p.hex4()
					if ok2 {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							buf = utf8.AppendRune(buf, dec)
							continue
						}
					}
					p.pos = save
				}
				r = utf8.RuneError
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", p.syntax("invalid escape")
		}
	}
	return "", p.syntax("unterminated string")
}

func (p *parser) hex4() (rune, bool) {
	if p.pos+4 > len(p.data) {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.pos : p.pos+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	p.pos += 4
	return r, true
}

// rawAt returns the raw bytes of the value at the given object-key path in a
// document already known to be valid JSON, or nil. It is used only where float64
// would lose digits (64-bit ids sent as JSON numbers). A repeated key resolves to its
// last occurrence, as in parseJSON.
func rawAt(data []byte, path ...string) []byte {
	p := parser{data: data}
	for _, key := range path {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '{' {
			return nil
		}
		p.pos++
		found := -1
		p.skipSpace()
		if p.pos < len(p.data) && p.data[p.pos] == '}' {
			return nil
		}
		for {
			p.skipSpace()
			if p.pos >= len(p.data) || p.data[p.pos] != '"' {
				return nil
			}
			k, err := p.str()
			if err != nil {
				return nil
			}
			p.skipSpace()
			if p.pos >= len(p.data) || p.data[p.pos] != ':' {
				return nil
			}
			p.pos++
			p.skipSpace()
			if k == key {
				found = p.pos
			}
			if !p.skip() {
				return nil
			}
			p.skipSpace()
			if p.pos < len(p.data) && p.data[p.pos] == ',' {
				p.pos++
				continue
			}
			break
		}
		if found < 0 {
			return nil
		}
		p.pos = found
	}
	start := p.pos
	if !p.skip() {
		return nil
	}
	return p.data[start:p.pos]
}

// skip moves past one value without building it.
func (p *parser) skip() bool {
	if p.pos >= len(p.data) {
		return false
	}
	switch c := p.data[p.pos]; {
	case c == '"':
		_, err := p.str()
		return err == nil
	case c == '{' || c == '[':
		depth := 0
		for p.pos < len(p.data) {
			switch p.data[p.pos] {
			case '"':
				if _, err := p.str(); err != nil {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					p.pos++
					return true
				}
			}
			p.pos++
		}
		return false
	default:
		start := p.pos
		for p.pos < len(p.data) {
			switch p.data[p.pos] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return p.pos > start
			}
			p.pos++
		}
		return p.pos > start
	}
}
