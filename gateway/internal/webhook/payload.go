package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

const (
	mediaJSON = "application/json"
	mediaForm = "application/x-www-form-urlencoded"
)

// isJSONMedia accepts application/json, any +json type, and an absent content type
// (some senders omit it; the body still has to parse as JSON).
func isJSONMedia(ct string) bool {
	return ct == "" || ct == mediaJSON || strings.HasSuffix(ct, "+json")
}

func unsupportedMedia(ct string, accepted string) *Error {
	if ct == "" {
		ct = "(none)"
	}
	return &Error{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMediaType,
		Message: "content type " + ct + " is not accepted; send " + accepted}
}

func invalidPayload(format string, args ...any) *Error {
	return BadRequest(CodeInvalidPayload, fmt.Sprintf(format, args...))
}

// decodeJSON parses exactly one JSON value, keeping numbers as json.Number so that
// large integer ids (Shopify's 820982911946154508) keep every digit.
func decodeJSON(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, BadRequest(CodeMalformedJSON, "body is not JSON: "+jsonErrText(err))
	}
	if rest := bytes.TrimSpace(body[dec.InputOffset():]); len(rest) > 0 {
		return nil, BadRequest(CodeMalformedJSON, "body is not JSON: data after the top-level value")
	}
	return v, nil
}

// jsonErrText describes a decode error without echoing body content.
func jsonErrText(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return "syntax error at byte " + strconv.FormatInt(syn.Offset, 10)
	}
	return "unexpected end or invalid value"
}

// decodeObject is decodeJSON for sources whose body must be a JSON object.
func decodeObject(body []byte, what string) (map[string]any, error) {
	v, err := decodeJSON(body)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, invalidPayload("%s body is not a JSON object", what)
	}
	return obj, nil
}

// lookup walks nested objects by key; nil when any step is missing.
func lookup(v any, keys ...string) any {
	for _, k := range keys {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = obj[k]
	}
	return v
}

// scalar renders a string, number (exact literal) or boolean; ok=false otherwise or when empty.
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, x != ""
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// str returns a non-empty JSON string.
func str(v any) (string, bool) {
	s, ok := v.(string)
	return s, ok && s != ""
}

// unixField reads a JSON number of Unix seconds (fractions allowed, e.g. Slack "ts").
func unixField(v any) (time.Time, bool) {
	var f float64
	switch x := v.(type) {
	case json.Number:
		var err error
		if f, err = x.Float64(); err != nil {
			return time.Time{}, false
		}
	case string:
		var err error
		if f, err = strconv.ParseFloat(x, 64); err != nil {
			return time.Time{}, false
		}
	default:
		return time.Time{}, false
	}
	if f <= 0 || f > 1e13 || math.IsNaN(f) {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).UTC(), true
}

// toValue converts a decoded JSON value into a structpb.Value. Numbers become
// doubles (the only number structpb has); original_body keeps the exact digits.
func toValue(v any) (*structpb.Value, error) {
	switch x := v.(type) {
	case nil:
		return structpb.NewNullValue(), nil
	case bool:
		return structpb.NewBoolValue(x), nil
	case string:
		return structpb.NewStringValue(strings.ToValidUTF8(x, "\uFFFD")), nil
	case json.Number:
		f, err := strconv.ParseFloat(x.String(), 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, invalidPayload("number %.40s is out of range", x.String())
		}
		return structpb.NewNumberValue(f), nil
	case map[string]any:
		fields := make(map[string]*structpb.Value, len(x))
		for k, e := range x {
			val, err := toValue(e)
			if err != nil {
				return nil, err
			}
			fields[strings.ToValidUTF8(k, "\uFFFD")] = val
		}
		return structpb.NewStructValue(&structpb.Struct{Fields: fields}), nil
	case []any:
		list := make([]*structpb.Value, len(x))
		for i, e := range x {
			val, err := toValue(e)
			if err != nil {
				return nil, err
			}
			list[i] = val
		}
		return structpb.NewListValue(&structpb.ListValue{Values: list}), nil
	}
	return nil, fmt.Errorf("convert payload: unexpected %T", v)
}

// keepHeaders copies the named headers (never signature or secret headers) with
// lower-case names; repeated values are joined with ", ".
func keepHeaders(h http.Header, names ...string) map[string]string {
	out := make(map[string]string)
	for _, n := range names {
		vals := h.Values(n)
		if len(vals) == 0 {
			continue
		}
		out[strings.ToLower(n)] = strings.ToValidUTF8(strings.Join(vals, ", "), "\uFFFD")
	}
	return out
}

// commonHeaders are kept for every provider.
var commonHeaders = []string{"Content-Type", "User-Agent"}

// newV7 is the generated id for senders that give none.
func newV7() (string, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("generate event id: %w", err)
	}
	return u.String(), nil
}

// providerEvent is what each provider's Normalize fills in.
type providerEvent struct {
	provider     string // kind
	providerType string // the provider's own event type
	id, typ      string
	subject      string
	time         time.Time
	deliveryID   string
	payload      any // decoded JSON (or form fields)
	headers      map[string]string
}

// build assembles the envelope; the gateway adds received_time and trace fields.
func (p providerEvent) build(req *Request) (*eventv1.Event, error) {
	if !utf8.ValidString(p.id) || !utf8.ValidString(p.typ) || !utf8.ValidString(p.subject) {
		return nil, invalidPayload("event id, type or subject is not valid UTF-8")
	}
	val, err := toValue(p.payload)
	if err != nil {
		return nil, err
	}
	ct := req.ContentType
	if ct == "" {
		ct = mediaJSON
	}
	ev := &eventv1.Event{
		Id:              p.id,
		Source:          req.Source,
		Type:            p.typ,
		Subject:         p.subject,
		Datacontenttype: ct,
		OriginalBody:    req.Body,
		Payload: &eventv1.Event_Provider{Provider: &eventv1.ProviderWebhook{
			Provider:          p.provider,
			ProviderEventType: strings.ToValidUTF8(p.providerType, "\uFFFD"),
			DeliveryId:        strings.ToValidUTF8(p.deliveryID, "\uFFFD"),
			Payload:           val,
			Headers:           p.headers,
		}},
	}
	if !p.time.IsZero() {
		ev.Time = timestamppb.New(p.time)
	}
	return ev, nil
}
