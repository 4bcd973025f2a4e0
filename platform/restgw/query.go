package restgw

import (
	"net/url"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// enumQueryParser lets a query parameter name an enum value the way REST users
// write it: without the type's prefix and in any case (granularity=day for
// GRANULARITY_DAY, state=dead for DELIVERY_STATE_DEAD). Full names and numbers
// work as before; anything else is refused by the default parser as before.
type enumQueryParser struct{ runtime.DefaultQueryParser }

func (p enumQueryParser) Parse(msg proto.Message, values url.Values, filter *utilities.DoubleArray) error {
	md := msg.ProtoReflect().Descriptor()
	for key, vals := range values {
		fd := fieldByPath(md, key)
		if fd == nil || fd.Kind() != protoreflect.EnumKind {
			continue
		}
		for i, v := range vals {
			vals[i] = enumValueName(fd.Enum(), v)
		}
	}
	return p.DefaultQueryParser.Parse(msg, values, filter)
}

// fieldByPath resolves a query key ("state", "filter.state") by proto or JSON name.
func fieldByPath(md protoreflect.MessageDescriptor, path string) protoreflect.FieldDescriptor {
	var fd protoreflect.FieldDescriptor
	for part := range strings.SplitSeq(path, ".") {
		if md == nil {
			return nil
		}
		if fd = md.Fields().ByName(protoreflect.Name(part)); fd == nil {
			if fd = md.Fields().ByJSONName(part); fd == nil {
				return nil
			}
		}
		md = fd.Message()
	}
	return fd
}

// enumValueName is the full value name v stands for, or v unchanged.
func enumValueName(ed protoreflect.EnumDescriptor, v string) string {
	if ed.Values().ByName(protoreflect.Name(v)) != nil {
		return v
	}
	if _, err := strconv.ParseInt(v, 10, 32); err == nil {
		return v
	}
	upper := strings.ToUpper(strings.ReplaceAll(v, "-", "_"))
	for _, name := range []string{upper, enumPrefix(ed) + upper} {
		if ed.Values().ByName(protoreflect.Name(name)) != nil {
			return name
		}
	}
	return v
}

// enumPrefix is the value prefix buf's ENUM_VALUE_PREFIX rule asks for:
// DeliveryState → "DELIVERY_STATE_".
func enumPrefix(ed protoreflect.EnumDescriptor) string {
	var b strings.Builder
	for i, r := range string(ed.Name()) {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	b.WriteByte('_')
	return b.String()
}

// The parser is process-wide in grpc-gateway (runtime.SetQueryParameterParser
// sets a package variable): install it once, before the first mux serves.
var installQueryParser = sync.OnceFunc(func() {
	runtime.SetQueryParameterParser(enumQueryParser{})(nil)
})
