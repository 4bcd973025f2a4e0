package webhook

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks headers. Svix sends the same scheme under svix-*; those are
// read when webhook-id is absent.
const (
	StandardIDHeader        = "webhook-id"
	StandardTimestampHeader = "webhook-timestamp"
	StandardSignatureHeader = "webhook-signature" // "v1,<base64> v1,<base64> …"
)

// StandardWebhooksConfig configures a `kind: standard_webhooks` source.
type StandardWebhooksConfig struct {
	// Secrets are base64 keys, with or without the "whsec_" prefix. Any may match.
	Secrets []string
	// Tolerance is the timestamp window, both directions; 0 means DefaultTolerance.
	Tolerance time.Duration
	// Now is the clock for events without a time of their own; nil means time.Now.
	Now func() time.Time
}

// standardKeys base64-decodes each non-empty secret after an optional whsec_ prefix.
func standardKeys(secrets []string) ([][]byte, error) {
	var keys [][]byte
	for i, s := range secrets {
		if s == "" {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
		if err != nil || len(k) == 0 {
			// The secret itself stays out of the message.
			return nil, fmt.Errorf("secret %d is not base64 (whsec_<base64> or <base64>)", i+1)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errNoSecrets
	}
	return keys, nil
}

// Validate reports a configuration that cannot verify anything.
func (c StandardWebhooksConfig) Validate() error {
	if _, err := standardKeys(c.Secrets); err != nil {
		return fmt.Errorf("standard_webhooks source: %w", err)
	}
	if _, err := tolerance(c.Tolerance); err != nil {
		return fmt.Errorf("standard_webhooks source: %w", err)
	}
	return nil
}

// StandardWebhooks verifies the Standard Webhooks (and Svix) symmetric v1 scheme
// and maps deliveries to webhook.<source>.<type> with webhook-id as id.
type StandardWebhooks struct {
	keys [][]byte
	tol  time.Duration
	now  func() time.Time
}

var _ Source = (*StandardWebhooks)(nil)

// NewStandardWebhooks validates cfg and fills its defaults.
func NewStandardWebhooks(cfg StandardWebhooksConfig) (*StandardWebhooks, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	keys, _ := standardKeys(cfg.Secrets)
	tol, _ := tolerance(cfg.Tolerance)
	return &StandardWebhooks{keys: keys, tol: tol, now: clock(cfg.Now)}, nil
}

// standardHeaders returns id, timestamp and signature, from webhook-* or, when
// webhook-id is absent, svix-*.
func standardHeaders(req *Request) (id, ts, sig string) {
	id = header(req.Header, StandardIDHeader)
	if id == "" && header(req.Header, "svix-id") != "" {
		return header(req.Header, "svix-id"), header(req.Header, "svix-timestamp"), header(req.Header, "svix-signature")
	}
	return id, header(req.Header, StandardTimestampHeader), header(req.Header, StandardSignatureHeader)
}

// parseStandardSignatures splits the space-separated "<version>,<signature>" list
// and keeps the v1 signatures. Entries without "," are skipped; a list with no
// well-formed entry is malformed; one with no v1 entry is unsupported (v1a is the
// asymmetric form, not accepted here).
func parseStandardSignatures(v string) ([]string, error) {
	var v1 []string
	wellFormed := 0
	for entry := range strings.FieldsSeq(v) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version == "" {
			continue
		}
		wellFormed++
		if version == "v1" {
			v1 = append(v1, sig)
		}
	}
	if wellFormed == 0 {
		return nil, Unauthorized(CodeMalformedHeader, StandardSignatureHeader+" has no <version>,<signature> entry")
	}
	if len(v1) == 0 {
		return nil, Unauthorized(CodeUnsupportedScheme, StandardSignatureHeader+" has no v1 signature (only v1 is accepted)")
	}
	return v1, nil
}

// Verify checks, in order: the three headers present, timestamp and list parse,
// a v1 entry exists, timestamp in window, then any v1 equals
// base64(HMAC-SHA256(key, "<id>.<ts>.<body>")) for any key.
func (s *StandardWebhooks) Verify(req *Request, now time.Time) error {
	id, ts, sig := standardHeaders(req)
	for _, h := range []struct{ name, value string }{
		{StandardIDHeader, id}, {StandardTimestampHeader, ts}, {StandardSignatureHeader, sig},
	} {
		if h.value == "" {
			return Unauthorized(CodeMissingHeader, "header "+h.name+" is missing")
		}
	}
	n, ok := parseUnix(ts)
	if !ok {
		return Unauthorized(CodeMalformedHeader, StandardTimestampHeader+" is not a Unix time in seconds")
	}
	v1, err := parseStandardSignatures(sig)
	if err != nil {
		return err
	}
	if err := checkWindow(n, now, s.tol); err != nil {
		return err
	}
	// The reference libraries sign the decimal rendering of the timestamp.
	prefix := make([]byte, 0, len(id)+24)
	prefix = append(prefix, id...)
	prefix = append(prefix, '.')
	prefix = strconv.AppendInt(prefix, n, 10)
	prefix = append(prefix, '.')
	want := make([][]byte, len(s.keys))
	for i, k := range s.keys {
		want[i] = base64Bytes(base64.StdEncoding, macSum(sha256.New, k, prefix, req.Body))
	}
	if !anyEqual(v1, want) {
		return Unauthorized(CodeSignatureMismatch, "no v1 signature matches a configured secret")
	}
	return nil
}

// AcceptsContentType lets the gateway answer 415 before reading the body; Normalize
// applies the same rule.
func (s *StandardWebhooks) AcceptsContentType(mediaType string) bool {
	return isJSONMedia(mediaType)
}

// Normalize maps {type, timestamp, data}: type = webhook.<source>.<type> (".received"
// when the body has no string type), subject = data.id, time = the body's timestamp
// (when the event happened; the header timestamp changes with every retry), else
// the header's.
func (s *StandardWebhooks) Normalize(req *Request) (Result, error) {
	if !isJSONMedia(req.ContentType) {
		return Result{}, unsupportedMedia(req.ContentType, mediaJSON)
	}
	body, err := decodeJSON(req.Body)
	if err != nil {
		return Result{}, err
	}
	id, ts, _ := standardHeaders(req)
	if id == "" {
		return Result{}, invalidPayload("header %s is missing", StandardIDHeader)
	}
	providerType, ok := str(lookup(body, "type"))
	if !ok {
		providerType = "received"
	}
	subject, _ := scalar(lookup(body, "data", "id"))
	var at time.Time
	if v, ok := str(lookup(body, "timestamp")); ok {
		if t, perr := time.Parse(time.RFC3339Nano, v); perr == nil {
			at = t.UTC()
		}
	}
	if at.IsZero() {
		if n, ok := parseUnix(ts); ok {
			at = time.Unix(n, 0).UTC()
		} else {
			at = s.now().UTC()
		}
	}
	ev, err := providerEvent{
		provider:     KindStandardWebhooks,
		providerType: providerType,
		id:           id,
		typ:          "webhook." + req.Source + "." + providerType,
		subject:      subject,
		time:         at,
		payload:      body,
		headers: keepHeaders(req.Header, append([]string{StandardIDHeader, StandardTimestampHeader,
			"svix-id", "svix-timestamp"}, commonHeaders...)...),
	}.build(req)
	if err != nil {
		return Result{}, err
	}
	return Result{Event: ev}, nil
}
