// Package typedrows converts Hasura table rows into the protobuf messages their tables
// are mapped to (a hasura source's tables: key), so consumers get typed rows
// (HasuraTableEvent.typed_old / typed_new) beside the google.protobuf.Struct.
//
// The messages come from the user's .proto files compiled at start
// (schemas: {proto_paths, files}), from a buf image (schemas: {image}), or, without
// schemas:, from the messages linked into the binary (the demo's hookmesh.demo.v1).
// A row that does not fit its message is refused (*RowError), never mangled: the
// rules per Postgres type are in convert.go and docs/typed-rows.md.
package typedrows

import (
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// Config maps tables to messages and names where the messages are defined.
type Config struct {
	// Tables maps "<schema>.<table>" to a full message name, e.g. "demo.v1.User".
	Tables map[string]string
	// ProtoPaths are the import roots Files are resolved against (like protoc -I).
	ProtoPaths []string
	// Files are the .proto files to compile, relative to a proto path.
	Files []string
	// Image is a buf image or protoc descriptor set (a binary FileDescriptorSet).
	Image string
	// BaseDir resolves relative ProtoPaths and Image (the config file's directory).
	BaseDir string
}

// Error is a config error; Path names the YAML key under the source, string keys
// and int indexes: [tables public.users], [schemas files 1], [schemas image].
type Error struct {
	Path []any
	Msg  string
}

func (e *Error) Error() string {
	key := ""
	for _, p := range e.Path {
		if i, ok := p.(int); ok {
			key += "[" + strconv.Itoa(i) + "]"
			continue
		}
		if key != "" {
			key += "."
		}
		key += p.(string)
	}
	return key + ": " + e.Msg
}

func keyErr(msg string, path ...any) *Error { return &Error{Path: path, Msg: msg} }

// RowError is a row that does not fit its message; Column names the column (with a
// path into jsonb and arrays, e.g. items[1].quantity).
type RowError struct {
	Column string
	Msg    string
}

func (e *RowError) Error() string { return "column " + e.Column + ": " + e.Msg }

// Table is one mapping, as listed by the catalog.
type Table struct {
	Schema, Table string
	Message       protoreflect.MessageDescriptor
}

type table struct {
	md  protoreflect.MessageDescriptor
	url string
}

// Converter converts rows of the mapped tables. It is safe for concurrent use.
type Converter struct {
	tables map[string]map[string]*table // schema -> table
	list   []Table
}

// New resolves every mapping; a config error is an *Error naming its key.
func New(cfg Config) (*Converter, error) {
	files, err := loadFiles(cfg)
	if err != nil {
		return nil, err
	}
	c := &Converter{tables: map[string]map[string]*table{}}
	keys := make([]string, 0, len(cfg.Tables))
	for k := range cfg.Tables {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		schema, name, ok := strings.Cut(key, ".")
		if !ok || schema == "" || name == "" || strings.Contains(name, ".") {
			return nil, keyErr("a table is named <schema>.<table>, e.g. public.users", "tables", key)
		}
		t, err := resolve(files, strings.TrimPrefix(cfg.Tables[key], "."))
		if err != nil {
			return nil, keyErr(err.Error(), "tables", key)
		}
		if c.tables[schema] == nil {
			c.tables[schema] = map[string]*table{}
		}
		c.tables[schema][name] = t
		c.list = append(c.list, Table{Schema: schema, Table: name, Message: t.md})
		registerType(t.md)
	}
	return c, nil
}

// registerType makes a message of the source's own files known to protoregistry's
// global types, which protojson resolves google.protobuf.Any with: the REST API and
// CEL filters render typed_new through it. A name already known (linked into the
// binary, or registered by an earlier config in this process) stays as it is.
func registerType(md protoreflect.MessageDescriptor) {
	if _, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName()); err == nil {
		return
	}
	_ = protoregistry.GlobalTypes.RegisterMessage(dynamicpb.NewMessageType(md)) // lost a race: known now
}

// resolve finds a message in the source's own files first, then among the messages
// linked into the binary.
func resolve(files *protoregistry.Files, name string) (*table, error) {
	full := protoreflect.FullName(name)
	if !full.IsValid() {
		return nil, errString(strconv.Quote(name) + " is not a message name")
	}
	var (
		d   protoreflect.Descriptor
		err = protoregistry.NotFound
	)
	if files != nil {
		d, err = files.FindDescriptorByName(full)
	}
	if err != nil {
		if d, err = protoregistry.GlobalFiles.FindDescriptorByName(full); err != nil {
			return nil, errString("message " + name + " is not defined in schemas (nor linked into hookmesh)")
		}
	}
	md, ok := d.(protoreflect.MessageDescriptor)
	if !ok {
		return nil, errString(name + " is not a message")
	}
	return &table{md: md, url: "type.googleapis.com/" + name}, nil
}

type errString string

func (e errString) Error() string { return string(e) }

// Mapped reports whether the table has a message.
func (c *Converter) Mapped(schema, name string) bool { return c.lookup(schema, name) != nil }

func (c *Converter) lookup(schema, name string) *table {
	if c == nil {
		return nil
	}
	return c.tables[schema][name]
}

// Convert returns the row as its table's message in an Any, nil for an unmapped table
// or a nil row, or a *RowError when the row does not fit.
func (c *Converter) Convert(schema, name string, row *structpb.Struct) (*anypb.Any, error) {
	t := c.lookup(schema, name)
	if t == nil || row == nil {
		return nil, nil
	}
	b, err := encodeMessage(nil, t.md, row.GetFields())
	if err != nil {
		return nil, err
	}
	return &anypb.Any{TypeUrl: t.url, Value: b}, nil
}

// Tables lists the mappings by table name.
func (c *Converter) Tables() []Table {
	if c == nil {
		return nil
	}
	return c.list
}

// FileDescriptorSet holds the files of every mapped message and their imports, in
// dependency order (what protoc --descriptor_set_in and buf take).
func (c *Converter) FileDescriptorSet() *descriptorpb.FileDescriptorSet {
	var roots []protoreflect.FileDescriptor
	for _, t := range c.Tables() {
		roots = append(roots, t.Message.ParentFile())
	}
	return FileSet(roots...)
}

// FileSet holds roots and their imports once each (by path), imports first.
func FileSet(roots ...protoreflect.FileDescriptor) *descriptorpb.FileDescriptorSet {
	set := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var add func(f protoreflect.FileDescriptor)
	add = func(f protoreflect.FileDescriptor) {
		if seen[f.Path()] {
			return
		}
		seen[f.Path()] = true
		imports := f.Imports()
		for i := 0; i < imports.Len(); i++ {
			add(imports.Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(f))
	}
	for _, f := range roots {
		add(f)
	}
	return set
}
