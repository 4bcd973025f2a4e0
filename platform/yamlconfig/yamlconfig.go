// Package yamlconfig decodes configuration YAML strictly: unknown keys,
// duplicate keys and values of the wrong type are errors, and every error
// names the line and the key, e.g.
//
//	config line 12: unknown key "retyr" in subscriptions[0]
//	config line 14: invalid value for "subscriptions[0].timeout": cannot unmarshal !!str `soon` into time.Duration
//
// Keys map to fields as in gopkg.in/yaml.v3 (the `yaml:"name"` tag, else the
// lower-cased field name; `yaml:",inline"` for embedded structs). Fields whose
// type implements yaml.Unmarshaler or encoding.TextUnmarshaler decode
// themselves; their errors get the line and key too. After a struct is
// decoded, its Validate() error method, if any, runs, and its error is
// reported with that struct's line and path — so semantic checks (an unknown
// retry policy, a bad cron expression) point at the line as well.
package yamlconfig

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// maxNodes bounds the work alias expansion may cause ("billion laughs").
const maxNodes = 1_000_000

var (
	unmarshalerType    = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalType  = reflect.TypeFor[encoding.TextUnmarshaler]()
	nodeType           = reflect.TypeFor[yaml.Node]()
	durationType       = reflect.TypeFor[time.Duration]()
	timeType           = reflect.TypeFor[time.Time]()
	validatorType      = reflect.TypeFor[interface{ Validate() error }]()
	yamlLineRE         = regexp.MustCompile(`^yaml: (?:unmarshal errors:\n\s*)?line (\d+): `)
	typeErrorLineRE    = regexp.MustCompile(`^line \d+: `)
	errNotStructTarget = errors.New("yamlconfig: Decode needs a non-nil pointer")
)

// Decode decodes one YAML document from data into out (a non-nil pointer).
// Fields absent from the document keep their values, so out may hold
// defaults. An empty document leaves out unchanged.
func Decode(data []byte, out any) error {
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return errNotStructTarget
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return syntaxError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return fmt.Errorf("config line %d: only one YAML document is allowed", extra.Line)
	} else if !errors.Is(err, io.EOF) {
		return syntaxError(err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	d := &decoder{}
	return d.value(doc.Content[0], rv.Elem(), "")
}

func syntaxError(err error) error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("config line %s: %s", m[1], msg[len(m[0]):])
	}
	return fmt.Errorf("config: %s", strings.TrimPrefix(msg, "yaml: "))
}

type decoder struct{ nodes int }

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a scalar"
	}
	return "something else"
}

func invalid(n *yaml.Node, path, format string, args ...any) error {
	return fmt.Errorf("config line %d: invalid value for %q: %s", n.Line, path, fmt.Sprintf(format, args...))
}

// value decodes n into v (addressable), path naming v for errors.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) error {
	if d.nodes++; d.nodes > maxNodes {
		return fmt.Errorf("config line %d: document too large (aliases expand past %d nodes)", n.Line, maxNodes)
	}
	if n.Kind == yaml.AliasNode {
		return d.value(n.Alias, v, path)
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" && v.Type() != nodeType {
		v.SetZero()
		return nil
	}
	t := v.Type()
	if opaque(t) {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			return invalid(n, path, "%s", cleanDecodeError(err))
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		return d.value(n, v.Elem(), path)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return invalid(n, path, "expected a mapping, got %s", kindName(n))
		}
		if err := d.structFields(n, v, path); err != nil {
			return err
		}
		return validate(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return invalid(n, path, "expected a list, got %s", kindName(n))
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			if err := d.value(item, s.Index(i), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return invalid(n, path, "expected a mapping, got %s", kindName(n))
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(t))
		}
		return d.mapEntries(n, v, path)
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		if n.Kind != yaml.ScalarNode {
			return invalid(n, path, "expected a scalar, got %s", kindName(n))
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			return invalid(n, path, "%s", cleanDecodeError(err))
		}
		return nil
	}
	return fmt.Errorf("yamlconfig: field %q has unsupported type %s", path, t)
}

// opaque types decode themselves (or are scalars yaml.v3 handles specially).
func opaque(t reflect.Type) bool {
	switch {
	case t == nodeType, t == durationType, t == timeType, t.Kind() == reflect.Interface:
		return true
	}
	p := reflect.PointerTo(t)
	return p.Implements(unmarshalerType) || p.Implements(textUnmarshalType)
}

func validate(n *yaml.Node, v reflect.Value, path string) error {
	if !v.Addr().Type().Implements(validatorType) {
		return nil
	}
	if err := v.Addr().Interface().(interface{ Validate() error }).Validate(); err != nil {
		if path == "" {
			return fmt.Errorf("config line %d: %w", n.Line, err)
		}
		return fmt.Errorf("config line %d: %s: %w", n.Line, path, err)
	}
	return nil
}

// cleanDecodeError drops yaml.v3's "yaml: unmarshal errors: line N:" framing.
func cleanDecodeError(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			msgs[i] = typeErrorLineRE.ReplaceAllString(m, "")
		}
		return strings.Join(msgs, "; ")
	}
	return err.Error()
}

// fieldIndex maps YAML keys to field index paths, following ,inline structs.
func fieldIndex(t reflect.Type) (map[string][]int, error) {
	out := map[string][]int{}
	var add func(t reflect.Type, prefix []int) error
	add = func(t reflect.Type, prefix []int) error {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("yaml")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			idx := append(append([]int{}, prefix...), i)
			if strings.Contains(","+opts+",", ",inline,") {
				ft := f.Type
				if ft.Kind() != reflect.Struct {
					return fmt.Errorf("yamlconfig: inline field %s must be a struct", f.Name)
				}
				if err := add(ft, idx); err != nil {
					return err
				}
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			if _, dup := out[name]; dup {
				return fmt.Errorf("yamlconfig: key %q maps to two fields of %s", name, t)
			}
			out[name] = idx
		}
		return nil
	}
	return out, add(t, nil)
}

// pair is one mapping entry; merged entries come from a << merge key and may
// be overridden by the mapping's own keys.
type pair struct {
	key, val *yaml.Node
	merged   bool
}

// mappingPairs returns n's entries with merge keys (<<) expanded, merged
// entries first so that explicit keys override them.
func mappingPairs(n *yaml.Node) ([]pair, error) {
	var merged, own []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			sources := []*yaml.Node{val}
			if val.Kind == yaml.SequenceNode {
				sources = val.Content
			}
			for _, src := range sources {
				for src.Kind == yaml.AliasNode {
					src = src.Alias
				}
				if src.Kind != yaml.MappingNode {
					return nil, fmt.Errorf("config line %d: merge key << needs a mapping", k.Line)
				}
				pairs, err := mappingPairs(src)
				if err != nil {
					return nil, err
				}
				for _, p := range pairs {
					p.merged = true
					merged = append(merged, p)
				}
			}
			continue
		}
		own = append(own, pair{key: k, val: val})
	}
	return append(merged, own...), nil
}

func (d *decoder) structFields(n *yaml.Node, v reflect.Value, path string) error {
	fields, err := fieldIndex(v.Type())
	if err != nil {
		return err
	}
	pairs, err := mappingPairs(n)
	if err != nil {
		return err
	}
	seen := map[string]int{}
	for _, p := range pairs {
		k, val := p.key, p.val
		key := k.Value
		if k.Kind != yaml.ScalarNode {
			return fmt.Errorf("config line %d: keys must be scalars%s", k.Line, inPath(path))
		}
		if err := checkDuplicate(seen, p, path); err != nil {
			return err
		}
		idx, ok := fields[key]
		if !ok {
			return fmt.Errorf("config line %d: unknown key %q%s", k.Line, key, inPath(path))
		}
		if err := d.value(val, fieldByIndex(v, idx), join(path, key)); err != nil {
			return err
		}
	}
	return nil
}

// fieldByIndex is v.FieldByIndex allocating nil embedded pointers.
func fieldByIndex(v reflect.Value, idx []int) reflect.Value {
	for i, x := range idx {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}

func inPath(path string) string {
	if path == "" {
		return ""
	}
	return " in " + path
}

// checkDuplicate rejects a key given twice in one mapping (merged entries may
// be overridden).
func checkDuplicate(seen map[string]int, p pair, path string) error {
	if p.merged {
		return nil
	}
	if line, dup := seen[p.key.Value]; dup {
		return fmt.Errorf("config line %d: duplicate key %q%s (first at line %d)", p.key.Line, p.key.Value, inPath(path), line)
	}
	seen[p.key.Value] = p.key.Line
	return nil
}

func (d *decoder) mapEntries(n *yaml.Node, m reflect.Value, path string) error {
	pairs, err := mappingPairs(n)
	if err != nil {
		return err
	}
	t := m.Type()
	seen := map[string]int{}
	for _, p := range pairs {
		k, val := p.key, p.val
		if err := checkDuplicate(seen, p, path); err != nil {
			return err
		}
		key := reflect.New(t.Key()).Elem()
		if err := d.value(k, key, join(path, k.Value)); err != nil {
			return err
		}
		elem := reflect.New(t.Elem()).Elem()
		if old := m.MapIndex(key); old.IsValid() {
			elem.Set(old)
		}
		if err := d.value(val, elem, join(path, k.Value)); err != nil {
			return err
		}
		m.SetMapIndex(key, elem)
	}
	return nil
}
