package hasura

import (
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// parseTraceContext reads event.trace_context. Current servers send hex strings
// (32-hex trace id, 16-hex span id); the v1 hex era sent 16-hex trace ids and v1.3.3
// sent JSON numbers, which raw returns verbatim so no digit is lost. Ids are
// left-padded to W3C widths. A trace context that cannot be read is dropped rather
// than failing the event: the event matters more than its trace.
func parseTraceContext(v *structpb.Value, raw func(key string) []byte) *eventv1.HasuraTraceContext {
	if isNull(v) {
		return nil
	}
	obj := v.GetStructValue()
	if obj == nil {
		return nil
	}
	traceID, ok := traceHex(obj.Fields["trace_id"], 32, func() []byte { return raw("trace_id") })
	if !ok {
		return nil
	}
	spanID, ok := traceHex(obj.Fields["span_id"], 16, func() []byte { return raw("span_id") })
	if !ok {
		return nil
	}
	tc := &eventv1.HasuraTraceContext{TraceId: traceID, SpanId: spanID}
	switch s := obj.Fields["sampling_state"]; k := s.GetKind().(type) {
	case *structpb.Value_StringValue:
		if k.StringValue == "0" || k.StringValue == "1" {
			tc.SamplingState = k.StringValue
		}
	case *structpb.Value_NumberValue:
		if k.NumberValue == 0 || k.NumberValue == 1 {
			tc.SamplingState = strconv.Itoa(int(k.NumberValue))
		}
	}
	return tc
}

func traceHex(v *structpb.Value, width int, raw func() []byte) (string, bool) {
	var hex string
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		hex = strings.ToLower(k.StringValue)
		for i := 0; i < len(hex); i++ {
			if c := hex[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return "", false
			}
		}
	case *structpb.Value_NumberValue:
		// Decimal Word64 from old servers: parse the raw digits, not the float.
		n, err := strconv.ParseUint(string(raw()), 10, 64)
		if err != nil {
			return "", false
		}
		hex = strconv.FormatUint(n, 16)
	default:
		return "", false
	}
	if hex == "" || len(hex) > width || strings.Trim(hex, "0") == "" {
		return "", false
	}
	return strings.Repeat("0", width-len(hex)) + hex, true
}

// Traceparent renders a Hasura trace context as a W3C traceparent. A deferred
// sampling decision is treated as sampled, so the continued trace is kept.
func Traceparent(tc *eventv1.HasuraTraceContext) string {
	if tc == nil || len(tc.TraceId) != 32 || len(tc.SpanId) != 16 {
		return ""
	}
	flags := "01"
	if tc.SamplingState == "0" {
		flags = "00"
	}
	return "00-" + tc.TraceId + "-" + tc.SpanId + "-" + flags
}

// BodyTraceparent extracts event.trace_context from an unverified body as a W3C
// traceparent, or "". It parses only that small object, for the case where Hasura
// sent no trace headers; it never fails.
func BodyTraceparent(body []byte) string {
	raw := rawAt(body, "event", "trace_context")
	if raw == nil {
		return ""
	}
	v, err := parseJSON(raw)
	if err != nil {
		return ""
	}
	tc := parseTraceContext(v, func(key string) []byte { return rawAt(raw, key) })
	return Traceparent(tc)
}
