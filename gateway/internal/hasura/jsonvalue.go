package hasura

import (
	"errors"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// The string and number grammar shared by the document parser (jsondoc.go), and a
// scanner that finds one value by its key path without parsing the rest.

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

// rawAt returns the raw bytes of the value at the given object-key path, or nil,
// skipping everything else: BodyTraceparent reads event.trace_context of a body not
// verified yet with it. A repeated key resolves to its last occurrence, as in Decode.
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
			match, ok := p.keyIs(key)
			if !ok {
				return nil
			}
			p.skipSpace()
			if p.pos >= len(p.data) || p.data[p.pos] != ':' {
				return nil
			}
			p.pos++
			p.skipSpace()
			if match {
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

// keyIs reads the object key at p.pos and reports whether it equals key, without
// building a string unless the key holds escapes.
func (p *parser) keyIs(key string) (match, ok bool) {
	start := p.pos + 1
	end := start
	for end < len(p.data) && p.data[end] != '"' && p.data[end] != '\\' {
		end++
	}
	if end < len(p.data) && p.data[end] == '"' {
		p.pos = end + 1
		return string(p.data[start:end]) == key, true
	}
	k, err := p.str()
	return k == key, err == nil
}

// skipStr moves past the string at p.pos without building it.
func (p *parser) skipStr() bool {
	for i := p.pos + 1; i < len(p.data); i++ {
		switch p.data[i] {
		case '\\':
			i++
		case '"':
			p.pos = i + 1
			return true
		}
	}
	return false
}

// skip moves past one value without building it.
func (p *parser) skip() bool {
	if p.pos >= len(p.data) {
		return false
	}
	switch p.data[p.pos] {
	case '"':
		return p.skipStr()
	case '{', '[':
		depth := 0
		for p.pos < len(p.data) {
			switch p.data[p.pos] {
			case '"':
				if !p.skipStr() {
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
