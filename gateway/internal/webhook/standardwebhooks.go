package webhook

import (
	"crypto/ed25519"
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
	// Secrets are base64 keys, with or without the "whsec_" prefix, or the
	// sender's Ed25519 public keys as "whpk_<base64>" (for v1a signatures).
	// Any may match.
	Secrets []string
	// Tolerance is the timestamp window, both directions; 0 means DefaultTolerance.
	Tolerance time.Duration
	// Now is the clock for events without a time of their own; nil means time.Now.
	Now func() time.Time
}

// standardKeys splits secrets into HMAC keys (base64 after an optional whsec_
// prefix) and Ed25519 public keys (whpk_<base64>), skipping empty ones.
func standardKeys(secrets []string) (hmacKeys [][]byte, publicKeys []ed25519.PublicKey, err error) {
	for i, s := range secrets {
		switch {
		case s == "":
			continue
		case strings.HasPrefix(s, "whsk_"):
			// The secret itself stays out of the message.
			return nil, nil, fmt.Errorf("secret %d is a whsk_ signing key: configure the sender's whpk_ public key", i+1)
		case strings.HasPrefix(s, "whpk_"):
			k, derr := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whpk_"))
			if derr != nil || len(k) != ed25519.PublicKeySize {
				return nil, nil, fmt.Errorf("secret %d is not a whpk_ Ed25519 public key (whpk_ and 32 bytes in base64)", i+1)
			}
			publicKeys = append(publicKeys, ed25519.PublicKey(k))
		default:
			k, derr := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
			if derr != nil || len(k) == 0 {
				return nil, nil, fmt.Errorf("secret %d is not base64 (whsec_<base64>, <base64> or whpk_<base64>)", i+1)
			}
			hmacKeys = append(hmacKeys, k)
		}
	}
	if len(hmacKeys) == 0 && len(publicKeys) == 0 {
		return nil, nil, ErrNoSecrets
	}
	return hmacKeys, publicKeys, nil
}

// Validate reports a configuration that cannot verify anything.
func (c StandardWebhooksConfig) Validate() error {
	if _, _, err := standardKeys(c.Secrets); err != nil {
		return fmt.Errorf("standard_webhooks source: %w", err)
	}
	if _, err := tolerance(c.Tolerance); err != nil {
		return fmt.Errorf("standard_webhooks source: %w", err)
	}
	return nil
}

// StandardWebhooks verifies the Standard Webhooks (and Svix) symmetric v1 and
// asymmetric v1a (Ed25519) schemes and maps deliveries to
// webhook.<source>.<type> with webhook-id as id.
type StandardWebhooks struct {
	keys       [][]byte
	publicKeys []ed25519.PublicKey
	tol        time.Duration
	now        func() time.Time
}

var _ Source = (*StandardWebhooks)(nil)

// NewStandardWebhooks validates cfg and fills its defaults.
func NewStandardWebhooks(cfg StandardWebhooksConfig) (*StandardWebhooks, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	keys, publicKeys, _ := standardKeys(cfg.Secrets)
	tol, _ := tolerance(cfg.Tolerance)
	return &StandardWebhooks{keys: keys, publicKeys: publicKeys, tol: tol, now: clock(cfg.Now)}, nil
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

// standardSignatures are the entries of webhook-signature by version.
type standardSignatures struct {
	v1, v1a []string
}

// parseStandardSignatures splits the space-separated "<version>,<signature>" list
// and keeps the versions this source has keys for: v1 with HMAC keys, v1a with
// public keys. Entries without "," are skipped; a list with no well-formed entry
// is malformed; one with no usable entry is unsupported.
func (s *StandardWebhooks) parseStandardSignatures(v string) (standardSignatures, error) {
	var sigs standardSignatures
	wellFormed := 0
	for entry := range strings.FieldsSeq(v) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version == "" {
			continue
		}
		wellFormed++
		switch {
		case version == "v1" && len(s.keys) > 0:
			sigs.v1 = append(sigs.v1, sig)
		case version == "v1a" && len(s.publicKeys) > 0:
			sigs.v1a = append(sigs.v1a, sig)
		}
	}
	if wellFormed == 0 {
		return sigs, Unauthorized(CodeMalformedHeader, StandardSignatureHeader+" has no <version>,<signature> entry")
	}
	if len(sigs.v1) == 0 && len(sigs.v1a) == 0 {
		return sigs, Unauthorized(CodeUnsupportedScheme, StandardSignatureHeader+" has no "+s.versions()+" signature")
	}
	return sigs, nil
}

// versions names the signature versions this source can verify.
func (s *StandardWebhooks) versions() string {
	switch {
	case len(s.keys) > 0 && len(s.publicKeys) > 0:
		return "v1 or v1a"
	case len(s.publicKeys) > 0:
		return "v1a"
	}
	return "v1"
}

// Verify checks, in order: the three headers present, timestamp and list parse,
// an entry of a version with configured keys exists, timestamp in window, then
// any v1 equals base64(HMAC-SHA256(key, "<id>.<ts>.<body>")) for any HMAC key or
// any v1a is an Ed25519 signature of the same content by any public key.
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
	sigs, err := s.parseStandardSignatures(sig)
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
	if anyEqual(sigs.v1, want) || s.verifyV1a(sigs.v1a, prefix, req.Body) {
		return nil
	}
	return Unauthorized(CodeSignatureMismatch, "no "+s.versions()+" signature matches a configured key")
}

// verifyV1a reports whether any v1a signature is valid under any public key.
// Ed25519 verification needs no constant-time comparison: it reveals nothing
// secret (only public keys are held).
func (s *StandardWebhooks) verifyV1a(sigs []string, prefix, body []byte) bool {
	if len(sigs) == 0 {
		return false
	}
	msg := make([]byte, 0, len(prefix)+len(body))
	msg = append(append(msg, prefix...), body...)
	for _, enc := range sigs {
		sig, err := base64.StdEncoding.DecodeString(enc)
		if err != nil || len(sig) != ed25519.SignatureSize {
			continue
		}
		for _, k := range s.publicKeys {
			if ed25519.Verify(k, msg, sig) {
				return true
			}
		}
	}
	return false
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
