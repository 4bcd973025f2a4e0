package webhook

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Extractor reads one value from a verified request. Syntax (YAML id_from,
// type_from, subject_from):
//
//	header:<Header-Name>   the first value of that header (name case-insensitive)
//	json:$<steps>          a value in the decoded body; steps are .name, [index]
//	                       or ["any key"] / ['any key'], e.g. json:$.data.id,
//	                       json:$.items[0].sku, json:$["event.type"]
//
// A JSON string is taken as is, a number as its exact literal, a boolean as
// true/false; null, objects, arrays and missing values count as absent. Form bodies
// are decoded to an object of their fields first, so json:$.field reads a field.
type Extractor struct {
	raw    string
	header string     // set for header:
	path   []pathStep // set for json:
}

type pathStep struct {
	key   string
	index int // used when isIdx
	isIdx bool
}

// ParseExtractor parses the syntax above.
func ParseExtractor(s string) (Extractor, error) {
	kind, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Extractor{}, fmt.Errorf("extractor %q: want header:<Name> or json:$.path", s)
	}
	switch kind {
	case "header":
		name := strings.TrimSpace(rest)
		if name == "" || strings.ContainsAny(name, " \t:\r\n") {
			return Extractor{}, fmt.Errorf("extractor %q: invalid header name", s)
		}
		return Extractor{raw: s, header: http.CanonicalHeaderKey(name)}, nil
	case "json":
		path, err := parsePath(rest)
		if err != nil {
			return Extractor{}, fmt.Errorf("extractor %q: %w", s, err)
		}
		return Extractor{raw: s, path: path}, nil
	}
	return Extractor{}, fmt.Errorf("extractor %q: unknown kind %q (want header or json)", s, kind)
}

// String returns the configured text.
func (e Extractor) String() string { return e.raw }

// IsHeader reports a header: extractor (the only kind usable before the body is verified).
func (e Extractor) IsHeader() bool { return e.header != "" }

// Extract returns the value and whether it was present and non-empty.
func (e Extractor) Extract(h http.Header, body any) (string, bool) {
	if e.header != "" {
		v := header(h, e.header)
		return v, v != ""
	}
	v := body
	for _, st := range e.path {
		if st.isIdx {
			list, ok := v.([]any)
			if !ok || st.index >= len(list) {
				return "", false
			}
			v = list[st.index]
			continue
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		if v, ok = obj[st.key]; !ok {
			return "", false
		}
	}
	return scalar(v)
}

// parsePath parses "$" followed by at least one step.
func parsePath(p string) ([]pathStep, error) {
	if !strings.HasPrefix(p, "$") {
		return nil, fmt.Errorf("path must start with $")
	}
	p = p[1:]
	var steps []pathStep
	for p != "" {
		switch p[0] {
		case '.':
			p = p[1:]
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				end = len(p)
			}
			if end == 0 {
				return nil, fmt.Errorf("empty key after '.'")
			}
			steps = append(steps, pathStep{key: p[:end]})
			p = p[end:]
		case '[':
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return nil, fmt.Errorf("unclosed '['")
			}
			inner := p[1:end]
			// A quoted key may itself contain "]": find the closing quote first.
			if len(inner) > 0 && (inner[0] == '"' || inner[0] == '\'') {
				q := inner[0]
				closeQ := strings.IndexByte(p[2:], q)
				if closeQ < 0 || 2+closeQ+1 >= len(p) || p[2+closeQ+1] != ']' {
					return nil, fmt.Errorf("quoted key must be [\"key\"] or ['key']")
				}
				steps = append(steps, pathStep{key: p[2 : 2+closeQ]})
				p = p[2+closeQ+2:]
				continue
			}
			n, err := strconv.Atoi(inner)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("index %q is not a non-negative integer", inner)
			}
			steps = append(steps, pathStep{index: n, isIdx: true})
			p = p[end+1:]
		default:
			return nil, fmt.Errorf("unexpected %q, want .key, [index] or [\"key\"]", p[0])
		}
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("path selects the whole body, want a field such as $.id")
	}
	return steps, nil
}
