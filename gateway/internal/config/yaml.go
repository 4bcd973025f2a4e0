package config

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"gopkg.in/yaml.v3"
)

// Duration is a YAML duration: Go syntax ("90s", "5m", "1h30m") or whole days ("4d").
type Duration time.Duration

// UnmarshalYAML reads a duration scalar, naming the line on error.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return lineErr(n, "want a duration such as 30s, 5m or 4d")
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return lineErr(n, err.Error())
	}
	*d = Duration(v)
	return nil
}

// Std returns the time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n < 0 || n > 100*365 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	if s == "-1" {
		return -1, nil // "forever" where a key allows it
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (want e.g. 30s, 5m, 4d)", s)
	}
	return d, nil
}

// ByteSize is a size in bytes: an integer or a number with a unit (KiB, MiB, GiB, KB,
// MB, GB).
type ByteSize int64

var sizeRE = regexp.MustCompile(`^(\d+)\s*([KMGT]i?B)?$`)

// UnmarshalYAML reads a byte size, naming the line on error.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return lineErr(n, "want a size such as 1048576 or 1MiB")
	}
	if n.Value == "-1" {
		*b = -1
		return nil
	}
	m := sizeRE.FindStringSubmatch(strings.TrimSpace(n.Value))
	if m == nil {
		return lineErr(n, fmt.Sprintf("invalid size %q (want e.g. 1048576 or 1MiB)", n.Value))
	}
	v, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return lineErr(n, fmt.Sprintf("invalid size %q", n.Value))
	}
	mult := map[string]int64{"": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[m[2]]
	if v > math.MaxInt64/mult {
		return lineErr(n, fmt.Sprintf("size %q is too large", n.Value))
	}
	*b = ByteSize(v * mult)
	return nil
}

// JSONValue is arbitrary YAML data kept as a protobuf Value (a schedule's payload).
type JSONValue struct{ *structpb.Value }

// UnmarshalYAML converts the YAML subtree, naming the line of anything JSON can't hold.
func (j *JSONValue) UnmarshalYAML(n *yaml.Node) error {
	v, err := nodeValue(n, 0)
	if err != nil {
		return err
	}
	j.Value = v
	return nil
}

func nodeValue(n *yaml.Node, depth int) (*structpb.Value, error) {
	if depth > 64 {
		return nil, lineErr(n, "nested too deeply")
	}
	switch n.Kind {
	case yaml.AliasNode:
		return nodeValue(n.Alias, depth+1)
	case yaml.MappingNode:
		fields := make(map[string]*structpb.Value, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || (k.Tag != "!!str" && k.Tag != "!!int" && k.Tag != "!!bool" && k.Tag != "!!float") {
				return nil, lineErr(k, "keys must be strings")
			}
			v, err := nodeValue(n.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			fields[k.Value] = v
		}
		return structpb.NewStructValue(&structpb.Struct{Fields: fields}), nil
	case yaml.SequenceNode:
		vals := make([]*structpb.Value, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := nodeValue(c, depth+1)
			if err != nil {
				return nil, err
			}
			vals = append(vals, v)
		}
		return structpb.NewListValue(&structpb.ListValue{Values: vals}), nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return structpb.NewNullValue(), nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return nil, lineErr(n, "invalid boolean")
			}
			return structpb.NewBoolValue(b), nil
		case "!!int", "!!float":
			var f float64
			if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return nil, lineErr(n, fmt.Sprintf("number %q cannot be JSON", n.Value))
			}
			return structpb.NewNumberValue(f), nil
		case "!!str", "!!timestamp":
			return structpb.NewStringValue(n.Value), nil
		default:
			return nil, lineErr(n, fmt.Sprintf("%s values cannot be JSON", n.ShortTag()))
		}
	default:
		return nil, lineErr(n, "unsupported YAML node")
	}
}

// Error is a config error at a line (0 when the error is about the whole file).
type Error struct {
	Line int
	Key  string // dotted path, e.g. sources[1].kind; empty when unknown
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func lineErr(n *yaml.Node, msg string) error { return &Error{Line: n.Line, Msg: msg} }

// lineOf finds the line of a path (string keys, int indexes) in a parsed document;
// it returns the deepest line it reached, so a missing key points at its parent.
func lineOf(doc *yaml.Node, path ...any) int {
	n := doc
	if n == nil {
		return 0
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, p := range path {
		switch p := p.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return line
			}
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == p {
					line = n.Content[i].Line
					n = n.Content[i+1]
					found = true
					break
				}
			}
			if !found {
				return line
			}
		case int:
			if n.Kind != yaml.SequenceNode || p >= len(n.Content) {
				return line
			}
			n = n.Content[p]
			line = n.Line
		}
	}
	return line
}

// pathString renders a path as sources[1].rate_limit.burst.
func pathString(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch p := p.(type) {
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p)
		case int:
			b.WriteString("[" + strconv.Itoa(p) + "]")
		}
	}
	return b.String()
}
