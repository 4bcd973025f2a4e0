package hasura

import (
	"math"
	"strconv"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/structpb"
)

// A one-pass JSON parser into a flat document of nodes that point into the body:
// the envelope (id, table, event, delivery_info, …) is read from the nodes without
// building anything, and only the values the event keeps (the rows, a scheduled
// payload) become google.protobuf.Value trees. Errors are those of the grammar in
// document order: the first syntax error (malformed_json) or unsupported value.

// maxDepth bounds nesting so a hostile body cannot exhaust the stack.
const maxDepth = 512

type kind uint8

const (
	kindNull kind = iota
	kindFalse
	kindTrue
	kindNumber
	kindString
	kindObject
	kindArray
)

// node is one JSON value. Strings span data[start:end] between their quotes; plain
// ones (no escapes, valid UTF-8) are that text as is. A member of an object also
// records its key the same way.
type node struct {
	kind             kind
	plain, keyPlain  bool
	start, end       int32
	keyStart, keyEnd int32
	num              float64
	first, next      int32 // first child and next sibling, or -1
	count            int32 // children of an object or array
}

type doc struct {
	data  []byte
	nodes []node
	pos   int
}

var docPool = sync.Pool{New: func() any { return &doc{nodes: make([]node, 0, 64)} }}

// parseDoc parses one JSON document (surrounding whitespace allowed); its root is
// node 0. Put the doc back with releaseDoc once nothing reads it any more.
func parseDoc(data []byte) (*doc, error) {
	d := docPool.Get().(*doc)
	d.data, d.nodes, d.pos = data, d.nodes[:0], 0
	d.skipSpace()
	if _, err := d.value(0); err != nil {
		releaseDoc(d)
		return nil, err
	}
	d.skipSpace()
	if d.pos != len(d.data) {
		releaseDoc(d)
		return nil, d.syntax("unexpected data after the JSON value")
	}
	return d, nil
}

func releaseDoc(d *doc) {
	if cap(d.nodes) > 4096 {
		return // a huge body: let the collector have it
	}
	d.data = nil
	docPool.Put(d)
}

func (d *doc) syntax(msg string) error { return &syntaxError{off: d.pos, msg: msg} }

func (d *doc) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *doc) add(n node) int32 {
	n.first, n.next = -1, -1
	d.nodes = append(d.nodes, n)
	return int32(len(d.nodes) - 1)
}

func (d *doc) value(depth int) (int32, error) {
	if d.pos >= len(d.data) {
		return -1, d.syntax("unexpected end of input")
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		if depth >= maxDepth {
			return -1, &errUnsupported{msg: "JSON nested deeper than " + strconv.Itoa(maxDepth)}
		}
		return d.object(depth + 1)
	case c == '[':
		if depth >= maxDepth {
			return -1, &errUnsupported{msg: "JSON nested deeper than " + strconv.Itoa(maxDepth)}
		}
		return d.array(depth + 1)
	case c == '"':
		start, end, plain, err := d.scanStr()
		if err != nil {
			return -1, err
		}
		return d.add(node{kind: kindString, start: int32(start), end: int32(end), plain: plain}), nil
	case c == 't':
		if err := d.literal("true"); err != nil {
			return -1, err
		}
		return d.add(node{kind: kindTrue}), nil
	case c == 'f':
		if err := d.literal("false"); err != nil {
			return -1, err
		}
		return d.add(node{kind: kindFalse}), nil
	case c == 'n':
		if err := d.literal("null"); err != nil {
			return -1, err
		}
		return d.add(node{kind: kindNull}), nil
	case c == '-' || (c >= '0' && c <= '9'):
		start := d.pos
		f, err := d.number()
		if err != nil {
			return -1, err
		}
		return d.add(node{kind: kindNumber, num: f, start: int32(start), end: int32(d.pos)}), nil
	default:
		return -1, d.syntax("unexpected character " + strconv.QuoteRune(rune(c)))
	}
}

func (d *doc) literal(word string) error {
	if len(d.data)-d.pos < len(word) || string(d.data[d.pos:d.pos+len(word)]) != word {
		return d.syntax("invalid literal")
	}
	d.pos += len(word)
	return nil
}

// link appends child to parent's children; last is the previous child or -1.
func (d *doc) link(parent, last, child int32) {
	if last < 0 {
		d.nodes[parent].first = child
	} else {
		d.nodes[last].next = child
	}
	d.nodes[parent].count++
}

func (d *doc) object(depth int) (int32, error) {
	obj := d.add(node{kind: kindObject})
	d.pos++ // '{'
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		return obj, nil
	}
	last := int32(-1)
	for {
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return -1, d.syntax("expected a string key")
		}
		ks, ke, kp, err := d.scanStr()
		if err != nil {
			return -1, err
		}
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return -1, d.syntax("expected ':'")
		}
		d.pos++
		d.skipSpace()
		v, err := d.value(depth)
		if err != nil {
			return -1, err
		}
		m := &d.nodes[v]
		m.keyStart, m.keyEnd, m.keyPlain = int32(ks), int32(ke), kp
		d.link(obj, last, v)
		last = v
		d.skipSpace()
		if d.pos >= len(d.data) {
			return -1, d.syntax("unexpected end of input in object")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
			d.skipSpace()
		case '}':
			d.pos++
			return obj, nil
		default:
			return -1, d.syntax("expected ',' or '}'")
		}
	}
}

func (d *doc) array(depth int) (int32, error) {
	arr := d.add(node{kind: kindArray})
	d.pos++ // '['
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		return arr, nil
	}
	last := int32(-1)
	for {
		v, err := d.value(depth)
		if err != nil {
			return -1, err
		}
		d.link(arr, last, v)
		last = v
		d.skipSpace()
		if d.pos >= len(d.data) {
			return -1, d.syntax("unexpected end of input in array")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
			d.skipSpace()
		case ']':
			d.pos++
			return arr, nil
		default:
			return -1, d.syntax("expected ',' or ']'")
		}
	}
}

// number validates the JSON number grammar and converts it to float64.
func (d *doc) number() (float64, error) {
	p := parser{data: d.data, pos: d.pos}
	f, err := p.number()
	d.pos = p.pos
	return f, err
}

// scanStr checks the string starting at the opening quote and returns the span of
// its content; plain means no escapes and valid UTF-8.
func (d *doc) scanStr() (start, end int, plain bool, err error) {
	d.pos++ // opening quote
	start = d.pos
	data := d.data
	escaped := false
	for d.pos < len(data) {
		c := data[d.pos]
		switch {
		case c == '"':
			end = d.pos
			d.pos++
			return start, end, !escaped && utf8.Valid(data[start:end]), nil
		case c < 0x20:
			return 0, 0, false, d.syntax("control character in string")
		case c != '\\':
			d.pos++
			continue
		}
		escaped = true
		d.pos++
		if d.pos >= len(data) {
			return 0, 0, false, d.syntax("unterminated escape")
		}
		e := data[d.pos]
		d.pos++
		switch e {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		case 'u':
			p := parser{data: data, pos: d.pos}
			if _, ok := p.hex4(); !ok {
				return 0, 0, false, d.syntax("invalid \\u escape")
			}
			d.pos = p.pos
		default:
			return 0, 0, false, d.syntax("invalid escape")
		}
	}
	return 0, 0, false, d.syntax("unterminated string")
}

// text is the Go string of a checked JSON string span: escapes decoded, invalid
// UTF-8 and lone surrogates replaced by U+FFFD (as encoding/json does).
func (d *doc) text(start, end int32, plain bool) string {
	if plain {
		return string(d.data[start:end])
	}
	p := parser{data: d.data, pos: int(start) - 1}
	s, _ := p.str() // checked while parsing
	return s
}

func (d *doc) str(i int32) string {
	n := &d.nodes[i]
	return d.text(n.start, n.end, n.plain)
}

func (d *doc) key(i int32) string {
	n := &d.nodes[i]
	return d.text(n.keyStart, n.keyEnd, n.keyPlain)
}

func (d *doc) keyIs(i int32, key string) bool {
	n := &d.nodes[i]
	if n.keyPlain {
		return string(d.data[n.keyStart:n.keyEnd]) == key
	}
	return d.key(i) == key
}

// get returns the member key of object obj (the last one, as encoding/json keeps
// the last of repeated keys), or -1.
func (d *doc) get(obj int32, key string) int32 {
	if obj < 0 || d.nodes[obj].kind != kindObject {
		return -1
	}
	found := int32(-1)
	for c := d.nodes[obj].first; c >= 0; c = d.nodes[c].next {
		if d.keyIs(c, key) {
			found = c
		}
	}
	return found
}

// lastOfKey reports whether member c is the last member of its object with its key.
func (d *doc) lastOfKey(c int32) bool {
	for o := d.nodes[c].next; o >= 0; o = d.nodes[o].next {
		if d.key(o) == d.key(c) {
			return false
		}
	}
	return true
}

// raw is the JSON text of a number node.
func (d *doc) raw(i int32) []byte { return d.data[d.nodes[i].start:d.nodes[i].end] }

// toValue builds the google.protobuf.Value of node i.
func (d *doc) toValue(i int32) *structpb.Value {
	n := &d.nodes[i]
	switch n.kind {
	case kindObject:
		v := &structValue{k: structpb.Value_StructValue{StructValue: d.toStruct(i)}}
		v.v.Kind = &v.k
		return &v.v
	case kindArray:
		values := make([]*structpb.Value, 0, n.count)
		for c := n.first; c >= 0; c = d.nodes[c].next {
			values = append(values, d.toValue(c))
		}
		v := &listValue{k: structpb.Value_ListValue{ListValue: &structpb.ListValue{Values: values}}}
		v.v.Kind = &v.k
		return &v.v
	case kindString:
		v := &stringValue{k: structpb.Value_StringValue{StringValue: d.str(i)}}
		v.v.Kind = &v.k
		return &v.v
	case kindTrue, kindFalse:
		v := &boolValue{k: structpb.Value_BoolValue{BoolValue: n.kind == kindTrue}}
		v.v.Kind = &v.k
		return &v.v
	case kindNumber:
		if !exactNumber(d.raw(i), n.num) {
			// A double would change it (a bigint beyond 2^53): keep every digit as text.
			v := &stringValue{k: structpb.Value_StringValue{StringValue: string(d.raw(i))}}
			v.v.Kind = &v.k
			return &v.v
		}
		v := &numberValue{k: structpb.Value_NumberValue{NumberValue: n.num}}
		v.v.Kind = &v.k
		return &v.v
	default:
		v := &nullValue{}
		v.v.Kind = &v.k
		return &v.v
	}
}

// toStruct builds the google.protobuf.Struct of object node i; a repeated key keeps
// its last value.
func (d *doc) toStruct(i int32) *structpb.Struct {
	n := &d.nodes[i]
	fields := make(map[string]*structpb.Value, n.count)
	for c := n.first; c >= 0; c = d.nodes[c].next {
		fields[d.key(c)] = d.toValue(c)
	}
	return &structpb.Struct{Fields: fields}
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

// isInt reports whether f is an integer float64 holds exactly.
func isInt(f float64) bool { return f == math.Trunc(f) && math.Abs(f) < 1<<53 }

// exactNumber reports whether the double f keeps the number written as raw: an
// integer below 2^53, or a number of at most 15 significant digits (which any
// double round-trips).
func exactNumber(raw []byte, f float64) bool {
	if isInt(f) && !hasFraction(raw) {
		return true
	}
	digits, leading := 0, true
	for _, c := range raw {
		switch {
		case c == 'e' || c == 'E':
			return digits <= 15
		case c == '0' && leading:
		case c >= '0' && c <= '9':
			leading = false
			digits++
		}
	}
	return digits <= 15
}

func hasFraction(raw []byte) bool {
	for _, c := range raw {
		if c == '.' || c == 'e' || c == 'E' {
			return true
		}
	}
	return false
}
