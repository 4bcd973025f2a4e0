package typedrows

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
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

// The row is written straight to the wire format (protowire), field by field in
// the message's order: no message is built and marshalled, so the typed row costs
// no more than the Struct beside it. Zero values of fields without presence are
// left out, as proto.Marshal does.

// encodeMessage writes the message md from a JSON object's members.
func encodeMessage(b []byte, md protoreflect.MessageDescriptor, members map[string]*structpb.Value) ([]byte, error) {
	fields := md.Fields()
	used := 0
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		v, ok := members[string(fd.Name())]
		if !ok {
			continue
		}
		used++
		var err error
		if b, err = encodeField(b, fd, v); err != nil {
			return nil, within(err, string(fd.Name()))
		}
	}
	if used < len(members) {
		return nil, unknownColumn(md, members)
	}
	return b, nil
}

// unknownColumn names the first column without a field, in name order.
func unknownColumn(md protoreflect.MessageDescriptor, members map[string]*structpb.Value) error {
	var unknown []string
	for k := range members {
		if md.Fields().ByName(protoreflect.Name(k)) == nil {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	return &RowError{Column: unknown[0], Msg: "no field of that name in " + string(md.FullName())}
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

func isMessage(fd protoreflect.FieldDescriptor) bool {
	return fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind
}

func encodeField(b []byte, fd protoreflect.FieldDescriptor, v *structpb.Value) ([]byte, error) {
	if isNull(v) {
		return b, nil
	}
	switch {
	case fd.IsMap():
		return encodeMap(b, fd, v)
	case fd.IsList():
		lv, ok := v.GetKind().(*structpb.Value_ListValue)
		if !ok {
			return nil, mismatch("an array", v)
		}
		return encodeList(b, fd, lv.ListValue.GetValues())
	case isMessage(fd):
		return encodeSub(b, fd.Number(), fd.Message(), v)
	}
	pv, err := scalar(fd, v)
	if err != nil {
		return nil, err
	}
	if !fd.HasPresence() && isZero(fd.Kind(), pv) {
		return b, nil
	}
	return appendScalar(protowire.AppendTag(b, fd.Number(), wireType(fd.Kind())), fd.Kind(), pv), nil
}

func encodeList(b []byte, fd protoreflect.FieldDescriptor, values []*structpb.Value) ([]byte, error) {
	if fd.IsPacked() && len(values) > 0 {
		var packed []byte
		for i, e := range values {
			if isNull(e) {
				return nil, within(&RowError{Msg: "null cannot be an element of a repeated field"}, "["+strconv.Itoa(i)+"]")
			}
			pv, err := scalar(fd, e)
			if err != nil {
				return nil, within(err, "["+strconv.Itoa(i)+"]")
			}
			packed = appendScalar(packed, fd.Kind(), pv)
		}
		return protowire.AppendBytes(protowire.AppendTag(b, fd.Number(), protowire.BytesType), packed), nil
	}
	for i, e := range values {
		var err error
		if isNull(e) {
			err = &RowError{Msg: "null cannot be an element of a repeated field"}
		} else if isMessage(fd) {
			b, err = encodeSub(b, fd.Number(), fd.Message(), e)
		} else {
			var pv protoreflect.Value
			if pv, err = scalar(fd, e); err == nil {
				b = appendScalar(protowire.AppendTag(b, fd.Number(), wireType(fd.Kind())), fd.Kind(), pv)
			}
		}
		if err != nil {
			return nil, within(err, "["+strconv.Itoa(i)+"]")
		}
	}
	return b, nil
}

// encodeMap writes a jsonb object as map entries (key 1, value 2).
func encodeMap(b []byte, fd protoreflect.FieldDescriptor, v *structpb.Value) ([]byte, error) {
	sv, ok := v.GetKind().(*structpb.Value_StructValue)
	if !ok {
		return nil, mismatch("an object", v)
	}
	kd, vd := fd.MapKey(), fd.MapValue()
	keys := make([]string, 0, len(sv.StructValue.GetFields()))
	for k := range sv.StructValue.GetFields() {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic bytes
	for _, k := range keys {
		entry, err := encodeEntry(kd, vd, k, sv.StructValue.GetFields()[k])
		if err != nil {
			return nil, within(err, "["+strconv.Quote(k)+"]")
		}
		b = protowire.AppendBytes(protowire.AppendTag(b, fd.Number(), protowire.BytesType), entry)
	}
	return b, nil
}

func encodeEntry(kd, vd protoreflect.FieldDescriptor, k string, e *structpb.Value) ([]byte, error) {
	key, err := scalar(kd, structpb.NewStringValue(k))
	if err != nil {
		return nil, err
	}
	if isNull(e) {
		return nil, &RowError{Msg: "null cannot be a map value"}
	}
	entry := appendScalar(protowire.AppendTag(nil, 1, wireType(kd.Kind())), kd.Kind(), key)
	if isMessage(vd) {
		return encodeSub(entry, 2, vd.Message(), e)
	}
	pv, err := scalar(vd, e)
	if err != nil {
		return nil, err
	}
	return appendScalar(protowire.AppendTag(entry, 2, wireType(vd.Kind())), vd.Kind(), pv), nil
}

// encodeSub writes field num holding message md.
func encodeSub(b []byte, num protoreflect.FieldNumber, md protoreflect.MessageDescriptor, v *structpb.Value) ([]byte, error) {
	body, err := messageBody(md, v)
	if err != nil {
		return nil, err
	}
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), body), nil
}

var deterministic = proto.MarshalOptions{Deterministic: true}

// messageBody is the wire form of a message field's value: the well-known types from
// their JSON, any other message from a jsonb object.
func messageBody(md protoreflect.MessageDescriptor, v *structpb.Value) ([]byte, error) {
	switch md.FullName() {
	case "google.protobuf.Timestamp":
		s, ok := v.GetKind().(*structpb.Value_StringValue)
		if !ok {
			return nil, mismatch("a timestamp string", v)
		}
		t, ok := parseTime(s.StringValue)
		if !ok {
			return nil, &RowError{Msg: strconv.Quote(s.StringValue) + " is not a timestamp"}
		}
		var b []byte
		if sec := t.Unix(); sec != 0 {
			b = protowire.AppendVarint(protowire.AppendTag(b, 1, protowire.VarintType), uint64(sec))
		}
		if ns := t.Nanosecond(); ns != 0 {
			b = protowire.AppendVarint(protowire.AppendTag(b, 2, protowire.VarintType), uint64(ns))
		}
		return b, nil
	case "google.protobuf.Value":
		return deterministic.Marshal(v)
	case "google.protobuf.Struct":
		sv, ok := v.GetKind().(*structpb.Value_StructValue)
		if !ok {
			return nil, mismatch("an object", v)
		}
		return deterministic.Marshal(sv.StructValue)
	case "google.protobuf.ListValue":
		lv, ok := v.GetKind().(*structpb.Value_ListValue)
		if !ok {
			return nil, mismatch("an array", v)
		}
		return deterministic.Marshal(lv.ListValue)
	case "google.protobuf.DoubleValue", "google.protobuf.FloatValue", "google.protobuf.Int64Value",
		"google.protobuf.UInt64Value", "google.protobuf.Int32Value", "google.protobuf.UInt32Value",
		"google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue":
		return encodeField(nil, md.Fields().ByNumber(1), v)
	}
	sv, ok := v.GetKind().(*structpb.Value_StructValue)
	if !ok {
		return nil, mismatch("an object for "+string(md.FullName()), v)
	}
	return encodeMessage(nil, md, sv.StructValue.GetFields())
}

func wireType(k protoreflect.Kind) protowire.Type {
	switch k {
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return protowire.Fixed64Type
	case protoreflect.StringKind, protoreflect.BytesKind:
		return protowire.BytesType
	}
	return protowire.VarintType
}

func appendScalar(b []byte, k protoreflect.Kind, v protoreflect.Value) []byte {
	switch k {
	case protoreflect.BoolKind:
		return protowire.AppendVarint(b, protowire.EncodeBool(v.Bool()))
	case protoreflect.Int32Kind, protoreflect.Int64Kind:
		return protowire.AppendVarint(b, uint64(v.Int()))
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return protowire.AppendVarint(b, protowire.EncodeZigZag(v.Int()))
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind:
		return protowire.AppendVarint(b, v.Uint())
	case protoreflect.EnumKind:
		return protowire.AppendVarint(b, uint64(int64(v.Enum())))
	case protoreflect.Fixed32Kind:
		return protowire.AppendFixed32(b, uint32(v.Uint()))
	case protoreflect.Sfixed32Kind:
		return protowire.AppendFixed32(b, uint32(int32(v.Int())))
	case protoreflect.Fixed64Kind:
		return protowire.AppendFixed64(b, v.Uint())
	case protoreflect.Sfixed64Kind:
		return protowire.AppendFixed64(b, uint64(v.Int()))
	case protoreflect.FloatKind:
		return protowire.AppendFixed32(b, math.Float32bits(float32(v.Float())))
	case protoreflect.DoubleKind:
		return protowire.AppendFixed64(b, math.Float64bits(v.Float()))
	case protoreflect.StringKind:
		return protowire.AppendString(b, v.String())
	}
	return protowire.AppendBytes(b, v.Bytes())
}

// isZero is a proto3 default, which a field without presence does not write.
func isZero(k protoreflect.Kind, v protoreflect.Value) bool {
	switch k {
	case protoreflect.BoolKind:
		return !v.Bool()
	case protoreflect.StringKind:
		return v.String() == ""
	case protoreflect.BytesKind:
		return len(v.Bytes()) == 0
	case protoreflect.EnumKind:
		return v.Enum() == 0
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return v.Float() == 0 && !math.Signbit(v.Float())
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
		return v.Uint() == 0
	}
	return v.Int() == 0
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
		prefix := screaming(string(ed.Name())) + "_"
		for _, name := range []string{label, screaming(label), prefix + screaming(label), prefix + upperSnake(label)} {
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

// upperSnake upper-cases a label and turns anything but letters and digits into
// '_' (hookmesh schema gen names enum values so: 'inProgress' → INPROGRESS).
func upperSnake(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, s)
}

func isLower(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') }
