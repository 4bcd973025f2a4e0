package webhook

import (
	"net/url"
	"strings"
)

// Form bodies (application/x-www-form-urlencoded) are verified over their raw bytes
// like any other body; only after that are they decoded here.

// parseForm decodes a form body; a body that is not valid form encoding is a 400.
func parseForm(body []byte) (url.Values, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, invalidPayload("form body is not valid application/x-www-form-urlencoded")
	}
	return vals, nil
}

// formObject turns form fields into a JSON-like object: one value → string,
// repeated field → list of strings. Values are made valid UTF-8 (%FF decodes to a
// lone byte, which protobuf strings cannot hold).
func formObject(vals url.Values) map[string]any {
	out := make(map[string]any, len(vals))
	for k, vs := range vals {
		key := strings.ToValidUTF8(k, "\uFFFD")
		if len(vs) == 1 {
			out[key] = strings.ToValidUTF8(vs[0], "\uFFFD")
			continue
		}
		list := make([]any, len(vs))
		for i, v := range vs {
			list[i] = strings.ToValidUTF8(v, "\uFFFD")
		}
		out[key] = list
	}
	return out
}

// formPayloadJSON returns the JSON document carried in the form field `payload`
// (GitHub's form content type, Slack interactivity).
func formPayloadJSON(vals url.Values, what string) (map[string]any, bool, error) {
	raw, ok := vals["payload"]
	if !ok {
		return nil, false, nil
	}
	if len(raw) != 1 {
		return nil, true, invalidPayload("%s form body has %d payload fields, want 1", what, len(raw))
	}
	obj, err := decodeObject([]byte(raw[0]), what+" payload field")
	if err != nil {
		return nil, true, err
	}
	return obj, true, nil
}
