package hasura

import (
	"strconv"
	"strings"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// parseTraceContext reads event.trace_context (node v, -1 when absent). Current
// servers send hex strings (32-hex trace id, 16-hex span id); the v1 hex era sent
// 16-hex trace ids and v1.3.3 sent JSON numbers, read from their raw digits so that
// none is lost. Ids are left-padded to W3C widths. A trace context that cannot be
// read is dropped rather than failing the event: the event matters more than its
// trace.
func parseTraceContext(d *doc, v int32) *eventv1.HasuraTraceContext {
	if d.isNull(v) || d.nodes[v].kind != kindObject {
		return nil
	}
	traceID, ok := traceHex(d, d.get(v, "trace_id"), 32)
	if !ok {
		return nil
	}
	spanID, ok := traceHex(d, d.get(v, "span_id"), 16)
	if !ok {
		return nil
	}
	tc := &eventv1.HasuraTraceContext{TraceId: traceID, SpanId: spanID}
	if s := d.get(v, "sampling_state"); s >= 0 {
		switch n := &d.nodes[s]; n.kind {
		case kindString:
			if st := d.str(s); st == "0" || st == "1" {
				tc.SamplingState = st
			}
		case kindNumber:
			if n.num == 0 || n.num == 1 {
				tc.SamplingState = strconv.Itoa(int(n.num))
			}
		}
	}
	return tc
}

func traceHex(d *doc, v int32, width int) (string, bool) {
	if v < 0 {
		return "", false
	}
	var hex string
	switch d.nodes[v].kind {
	case kindString:
		hex = strings.ToLower(d.str(v))
		for i := 0; i < len(hex); i++ {
			if c := hex[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return "", false
			}
		}
	case kindNumber:
		// Decimal Word64 from old servers: parse the raw digits, not the float.
		n, err := strconv.ParseUint(string(d.raw(v)), 10, 64)
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
	d, err := parseDoc(raw)
	if err != nil {
		return ""
	}
	defer releaseDoc(d)
	return Traceparent(parseTraceContext(d, 0))
}
