package typedrows

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/hookmesh/hookmesh/gateway/internal/hasura"
)

// How Hasura's JSON (Postgres' row_to_json) meets protobuf, per field kind:
//
//	int32/int64/uint…  a JSON number that is an exact integer, or a string of
//	                   decimal digits (bigint beyond 2^53 reaches us as its text)
//	double/float       a number, or a numeric's text ("NaN", "Infinity" too)
//	string             a string; a number as its decimal text; jsonb as JSON text
//	bytes              bytea's "\x…" hex; another string as its bytes; jsonb as JSON text
//	bool               true / false
//	enum               the exact value name, or the Postgres label: plan 'pro' → PLAN_PRO
//	Timestamp          timestamptz / timestamp (no zone: UTC) / date
//	Struct/Value/List  jsonb (and any JSON)
//	wrappers           their scalar; null leaves them unset
//	repeated           a JSON array (Postgres arrays, jsonb arrays)
//	other messages     a JSON object (jsonb), field by field with these rules
//
// null leaves a field unset (proto3 optional and messages say so). A column with no
// field, a value of another JSON type, a fraction for an integer, a number out of the
// field's range: a *RowError naming the column.

// fillMessage sets m's fields from a JSON object's members in one pass; when a
// member fails, members are tried again in name order so the error names the same
// column every time.
func fillMessage(m protoreflect.Message, members map[string]*structpb.Value) error {
	fields := m.Descriptor().Fields()
	for k, v := range members {
		if err := setMember(m, fields, k, v); err != nil {
			return firstError(m, fields, members)
		}
	}
	return nil
}

func setMember(m protoreflect.Message, fields protoreflect.FieldDescriptors, k string, v *structpb.Value) error {
	fd := fields.ByName(protoreflect.Name(k))
	if fd == nil {
		return &RowError{Column: k, Msg: "no field of that name in " + string(m.Descriptor().FullName())}
	}
	return within(setField(m, fd, v), k)
}

func firstError(m protoreflect.Message, fields protoreflect.FieldDescriptors, members map[string]*structpb.Value) error {
	keys := make([]string, 0, len(members))
	for k := range members {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := setMember(m, fields, k, members[k]); err != nil {
			return err
		}
	}
	return nil
}

// within puts a RowError under seg (a column, [index] or ["key"]): paths are built
// on the way out of an error, so a row that fits builds none.
func within(err error, seg string) error {
	if re, ok := err.(*RowError); ok {
		switch {
		case re.Column == "":
			re.Column = seg
		case re.Column[0] == '[':
			re.Column = seg + re.Column
		default:
			re.Column = seg + "." + re.Column
		}
	}
	return err
}

func setField(m protoreflect.Message, fd protoreflect.FieldDescriptor, v *structpb.Value) error {
	if isNull(v) {
		return nil
	}
	switch {
	case fd.IsMap():
		return setMap(m.Mutable(fd).Map(), fd, v)
	case fd.IsList():
		lv, ok := v.GetKind().(*structpb.Value_ListValue)
		if !ok {
			return mismatch("an array", v)
		}
		list := m.Mutable(fd).List()
		for i, e := range lv.ListValue.GetValues() {
			if err := appendElem(list, fd, e); err != nil {
				return within(err, "["+strconv.Itoa(i)+"]")
			}
		}
		return nil
	case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
		return setMessage(m.Mutable(fd).Message(), v)
	}
	pv, err := scalar(fd, v)
	if err != nil {
		return err
	}
	m.Set(fd, pv)
	return nil
}

func setMap(mp protoreflect.Map, fd protoreflect.FieldDescriptor, v *structpb.Value) error {
	sv, ok := v.GetKind().(*structpb.Value_StructValue)
	if !ok {
		return mismatch("an object", v)
	}
	kd, vd := fd.MapKey(), fd.MapValue()
	for k, e := range sv.StructValue.GetFields() {
		if err := setEntry(mp, kd, vd, k, e); err != nil {
			return within(err, "["+strconv.Quote(k)+"]")
		}
	}
	return nil
}

func appendElem(list protoreflect.List, fd protoreflect.FieldDescriptor, e *structpb.Value) error {
	if isNull(e) {
		return &RowError{Msg: "null cannot be an element of a repeated field"}
	}
	if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
		el := list.NewElement()
		if err := setMessage(el.Message(), e); err != nil {
			return err
		}
		list.Append(el)
		return nil
	}
	pv, err := scalar(fd, e)
	if err != nil {
		return err
	}
	list.Append(pv)
	return nil
}

func setEntry(mp protoreflect.Map, kd, vd protoreflect.FieldDescriptor, k string, e *structpb.Value) error {
	key, err := scalar(kd, structpb.NewStringValue(k))
	if err != nil {
		return err
	}
	if isNull(e) {
		return &RowError{Msg: "null cannot be a map value"}
	}
	if vd.Kind() == protoreflect.MessageKind {
		el := mp.NewValue()
		if err := setMessage(el.Message(), e); err != nil {
			return err
		}
		mp.Set(key.MapKey(), el)
		return nil
	}
	pv, err := scalar(vd, e)
	if err != nil {
		return err
	}
	mp.Set(key.MapKey(), pv)
	return nil
}

func isNull(v *structpb.Value) bool {
	if v == nil {
		return true
	}
	_, ok := v.GetKind().(*structpb.Value_NullValue)
	return ok || v.GetKind() == nil
}

func mismatch(want string, v *structpb.Value) error {
	return &RowError{Msg: "want " + want + ", got " + jsonType(v)}
}

func jsonType(v *structpb.Value) string {
	switch v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return "a string"
	case *structpb.Value_NumberValue:
		return "a number"
	case *structpb.Value_BoolValue:
		return "a boolean"
	case *structpb.Value_StructValue:
		return "an object"
	case *structpb.Value_ListValue:
		return "an array"
	}
	return "null"
}

func setMessage(dst protoreflect.Message, v *structpb.Value) error {
	md := dst.Descriptor()
	switch name := md.FullName(); name {
	case "google.protobuf.Timestamp":
		s, ok := v.GetKind().(*structpb.Value_StringValue)
		if !ok {
			return mismatch("a timestamp string", v)
		}
		t, ok := parseTime(s.StringValue)
		if !ok {
			return &RowError{Msg: strconv.Quote(s.StringValue) + " is not a timestamp"}
		}
		dst.Set(md.Fields().ByNumber(1), protoreflect.ValueOfInt64(t.Unix()))
		dst.Set(md.Fields().ByNumber(2), protoreflect.ValueOfInt32(int32(t.Nanosecond())))
		return nil
	case "google.protobuf.Value":
		return copyInto(dst, v)
	case "google.protobuf.Struct":
		sv, ok := v.GetKind().(*structpb.Value_StructValue)
		if !ok {
			return mismatch("an object", v)
		}
		return copyInto(dst, sv.StructValue)
	case "google.protobuf.ListValue":
		lv, ok := v.GetKind().(*structpb.Value_ListValue)
		if !ok {
			return mismatch("an array", v)
		}
		return copyInto(dst, lv.ListValue)
	case "google.protobuf.DoubleValue", "google.protobuf.FloatValue", "google.protobuf.Int64Value",
		"google.protobuf.UInt64Value", "google.protobuf.Int32Value", "google.protobuf.UInt32Value",
		"google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue":
		fd := md.Fields().ByNumber(1)
		pv, err := scalar(fd, v)
		if err != nil {
			return err
		}
		dst.Set(fd, pv)
		return nil
	}
	sv, ok := v.GetKind().(*structpb.Value_StructValue)
	if !ok {
		return mismatch("an object for "+string(md.FullName()), v)
	}
	return fillMessage(dst, sv.StructValue.GetFields())
}

// copyInto copies a well-known message into dst, which is the same message type
// from generated code or from the source's own compiled descriptors.
func copyInto(dst protoreflect.Message, src proto.Message) error {
	if dst.Descriptor() == src.ProtoReflect().Descriptor() {
		proto.Merge(dst.Interface(), src)
		return nil
	}
	b, err := proto.Marshal(src)
	if err != nil {
		return err
	}
	return proto.UnmarshalOptions{Merge: true}.Unmarshal(b, dst.Interface())
}

// parseTime reads timestamptz, timestamp (UTC) and date columns.
func parseTime(s string) (time.Time, bool) {
	if len(s) == len("2006-01-02") {
		t, err := time.Parse(time.DateOnly, s)
		return t, err == nil
	}
	return hasura.ParseTime(s)
}

// exact is the largest magnitude up to which every integer is a float64.
const exact = 1 << 53

func scalar(fd protoreflect.FieldDescriptor, v *structpb.Value) (protoreflect.Value, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		if b, ok := v.GetKind().(*structpb.Value_BoolValue); ok {
			return protoreflect.ValueOfBool(b.BoolValue), nil
		}
		return protoreflect.Value{}, mismatch("a boolean", v)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := signed(v, 32)
		return protoreflect.ValueOfInt32(int32(n)), err
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := signed(v, 64)
		return protoreflect.ValueOfInt64(n), err
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := unsigned(v, 32)
		return protoreflect.ValueOfUint32(uint32(n)), err
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := unsigned(v, 64)
		return protoreflect.ValueOfUint64(n), err
	case protoreflect.DoubleKind:
		f, err := float(v, math.MaxFloat64)
		return protoreflect.ValueOfFloat64(f), err
	case protoreflect.FloatKind:
		f, err := float(v, math.MaxFloat32)
		return protoreflect.ValueOfFloat32(float32(f)), err
	case protoreflect.StringKind:
		if s, ok := v.GetKind().(*structpb.Value_StringValue); ok {
			return protoreflect.ValueOfString(s.StringValue), nil
		}
		s, err := text(v)
		return protoreflect.ValueOfString(s), err
	case protoreflect.BytesKind:
		if s, ok := v.GetKind().(*structpb.Value_StringValue); ok {
			return protoreflect.ValueOfBytes(bytea(s.StringValue)), nil
		}
		s, err := text(v)
		return protoreflect.ValueOfBytes([]byte(s)), err
	case protoreflect.EnumKind:
		n, err := enum(fd.Enum(), v)
		return protoreflect.ValueOfEnum(n), err
	}
	return protoreflect.Value{}, &RowError{Msg: "field kind " + fd.Kind().String() + " is not supported"}
}

// signed reads an integer: an exact JSON number, or decimal digits in a string.
func signed(v *structpb.Value, bits int) (int64, error) {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		f := k.NumberValue
		if f != math.Trunc(f) {
			return 0, &RowError{Msg: strconv.FormatFloat(f, 'g', -1, 64) + " is not an integer"}
		}
		if math.Abs(f) >= exact {
			return 0, &RowError{Msg: "a number beyond 2^53 may have been rounded; send it as a string"}
		}
		n := int64(f)
		if bits == 32 && int64(int32(n)) != n {
			return 0, outOfRange(strconv.FormatInt(n, 10), "int32")
		}
		return n, nil
	case *structpb.Value_StringValue:
		n, err := strconv.ParseInt(k.StringValue, 10, bits)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return 0, outOfRange(k.StringValue, "int"+strconv.Itoa(bits))
			}
			return 0, &RowError{Msg: strconv.Quote(k.StringValue) + " is not an integer"}
		}
		return n, nil
	}
	return 0, mismatch("an integer", v)
}

func unsigned(v *structpb.Value, bits int) (uint64, error) {
	if s, ok := v.GetKind().(*structpb.Value_StringValue); ok {
		n, err := strconv.ParseUint(s.StringValue, 10, bits)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return 0, outOfRange(s.StringValue, "uint"+strconv.Itoa(bits))
			}
			return 0, &RowError{Msg: strconv.Quote(s.StringValue) + " is not an unsigned integer"}
		}
		return n, nil
	}
	n, err := signed(v, 64)
	if err != nil {
		return 0, err
	}
	if n < 0 || (bits == 32 && n > math.MaxUint32) {
		return 0, outOfRange(strconv.FormatInt(n, 10), "uint"+strconv.Itoa(bits))
	}
	return uint64(n), nil
}

func outOfRange(n, typ string) error {
	return &RowError{Msg: n + " is out of range for " + typ}
}

func float(v *structpb.Value, limit float64) (float64, error) {
	var f float64
	switch k := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		f = k.NumberValue
	case *structpb.Value_StringValue:
		var err error
		if f, err = strconv.ParseFloat(k.StringValue, 64); err != nil {
			return 0, &RowError{Msg: strconv.Quote(k.StringValue) + " is not a number"}
		}
	default:
		return 0, mismatch("a number", v)
	}
	if !math.IsInf(f, 0) && math.Abs(f) > limit {
		return 0, &RowError{Msg: strconv.FormatFloat(f, 'g', -1, 64) + " is out of range for float"}
	}
	return f, nil
}

// text renders a non-string value for a string or bytes field: a number as its
// decimal text, jsonb as JSON.
func text(v *structpb.Value) (string, error) {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		return strconv.FormatFloat(k.NumberValue, 'f', -1, 64), nil
	case *structpb.Value_BoolValue:
		return strconv.FormatBool(k.BoolValue), nil
	}
	b, err := json.Marshal(v.AsInterface())
	if err != nil {
		return "", &RowError{Msg: err.Error()}
	}
	return string(b), nil
}

// bytea decodes Postgres' hex form (\x…); any other string is taken as its bytes.
func bytea(s string) []byte {
	if strings.HasPrefix(s, `\x`) {
		if b, err := hex.DecodeString(s[2:]); err == nil {
			return b
		}
	}
	return []byte(s)
}

// enum maps a Postgres enum label to a value: the exact name, the label upper-cased,
// or the enum's prefix plus the label (enum Plan, label "pro" → PLAN_PRO).
func enum(ed protoreflect.EnumDescriptor, v *structpb.Value) (protoreflect.EnumNumber, error) {
	values := ed.Values()
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		label := k.StringValue
		for _, name := range []string{label, screaming(label), screaming(string(ed.Name())) + "_" + screaming(label)} {
			if ev := values.ByName(protoreflect.Name(name)); ev != nil {
				return ev.Number(), nil
			}
		}
		return 0, &RowError{Msg: strconv.Quote(label) + " is not a value of " + string(ed.FullName())}
	case *structpb.Value_NumberValue:
		if ev := values.ByNumber(protoreflect.EnumNumber(k.NumberValue)); ev != nil && float64(ev.Number()) == k.NumberValue {
			return ev.Number(), nil
		}
		return 0, &RowError{Msg: strconv.FormatFloat(k.NumberValue, 'g', -1, 64) + " is not a value of " + string(ed.FullName())}
	}
	return 0, mismatch("an enum label", v)
}

// screaming turns "OrderStatus" or "in-progress" into ORDER_STATUS / IN_PROGRESS.
func screaming(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 4)
	for i, r := range s {
		switch {
		case r >= 'A' && r <= 'Z':
			if i > 0 && !strings.HasSuffix(b.String(), "_") && isLower(s[i-1]) {
				b.WriteByte('_')
			}
			b.WriteRune(r)
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

func isLower(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') }
