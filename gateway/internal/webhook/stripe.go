package webhook

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// StripeSignatureHeader carries `t=<unix>,v1=<hex>[,v1=…][,v0=…]`.
const StripeSignatureHeader = "Stripe-Signature"

// StripeConfig configures a `kind: stripe` source.
type StripeConfig struct {
	// Secrets are the endpoint secrets (whsec_…), used as-is as HMAC keys (not
	// base64-decoded). Any may match; empty entries are skipped (rotation variables).
	Secrets []string
	// Tolerance is the timestamp window, both directions; 0 means DefaultTolerance.
	Tolerance time.Duration
	// Now is the clock for events without a time of their own; nil means time.Now.
	Now func() time.Time
}

// Validate reports a configuration that cannot verify anything.
func (c StripeConfig) Validate() error {
	if _, err := rawKeys(c.Secrets); err != nil {
		return fmt.Errorf("stripe source: %w", err)
	}
	if _, err := tolerance(c.Tolerance); err != nil {
		return fmt.Errorf("stripe source: %w", err)
	}
	return nil
}

// Stripe verifies Stripe-Signature (HMAC-SHA256 over "<t>.<body>") and turns
// Stripe event objects into stripe.<type> events with Stripe's evt_… id.
type Stripe struct {
	keys [][]byte
	tol  time.Duration
	now  func() time.Time
}

var _ Source = (*Stripe)(nil)

// NewStripe validates cfg and fills its defaults.
func NewStripe(cfg StripeConfig) (*Stripe, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	keys, _ := rawKeys(cfg.Secrets)
	tol, _ := tolerance(cfg.Tolerance)
	return &Stripe{keys: keys, tol: tol, now: clock(cfg.Now)}, nil
}

// SecretWarnings names secrets that are not in the format their provider
// fixes (Stripe's endpoint secrets start with whsec_; an API key sk_… or
// rk_… there verifies nothing the sender signs). They are warnings, not
// errors: tests and relays use other keys. Never includes a secret's value.
func SecretWarnings(kind string, secrets []string) []string {
	if kind != KindStripe {
		return nil
	}
	var out []string
	for i, s := range secrets {
		if s != "" && !strings.HasPrefix(s, "whsec_") {
			out = append(out, fmt.Sprintf("secret %d of %d does not start with whsec_, as Stripe's endpoint signing secrets do (an API key is not one)", i+1, len(secrets)))
		}
	}
	return out
}

// stripeSignature is a parsed Stripe-Signature header.
type stripeSignature struct {
	timestamp int64
	v1        []string
}

// parseStripeSignature splits on "," and each item on its first "=". Items without
// "=" and schemes other than v1 (v0 test-mode, unknown) are ignored, as Stripe's
// libraries do; a missing, repeated or non-integer t is malformed; no v1 at all is
// an unsupported scheme (downgrade protection).
func parseStripeSignature(v string) (stripeSignature, error) {
	var sig stripeSignature
	seenT := false
	for item := range strings.SplitSeq(v, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			continue
		}
		switch key {
		case "t":
			if seenT {
				return sig, Unauthorized(CodeMalformedHeader, StripeSignatureHeader+" has more than one t= element")
			}
			seenT = true
			ts, ok := parseUnix(val)
			if !ok {
				return sig, Unauthorized(CodeMalformedHeader, StripeSignatureHeader+" t= is not a Unix time in seconds")
			}
			sig.timestamp = ts
		case "v1":
			sig.v1 = append(sig.v1, val)
		}
	}
	if !seenT {
		return sig, Unauthorized(CodeMalformedHeader, StripeSignatureHeader+" has no t= element")
	}
	if len(sig.v1) == 0 {
		return sig, Unauthorized(CodeUnsupportedScheme, StripeSignatureHeader+" has no v1 signature (only v1 is accepted)")
	}
	return sig, nil
}

// Verify checks, in order: header present, parsed, has v1, timestamp in window,
// then any v1 equals HMAC-SHA256(secret, "<t>.<body>") for any secret.
func (s *Stripe) Verify(req *Request, now time.Time) error {
	v := header(req.Header, StripeSignatureHeader)
	if v == "" {
		return Unauthorized(CodeMissingHeader, "header "+StripeSignatureHeader+" is missing")
	}
	sig, err := parseStripeSignature(v)
	if err != nil {
		return err
	}
	if err := checkWindow(sig.timestamp, now, s.tol); err != nil {
		return err
	}
	// Stripe's libraries sign the decimal rendering of t.
	prefix := strconv.AppendInt(nil, sig.timestamp, 10)
	prefix = append(prefix, '.')
	want := make([][]byte, len(s.keys))
	for i, k := range s.keys {
		want[i] = hexBytes(macSum(sha256.New, k, prefix, req.Body))
	}
	if !anyEqual(sig.v1, want) {
		return Unauthorized(CodeSignatureMismatch, "no v1 signature matches a configured secret")
	}
	return nil
}

func hexBytes(sum []byte) []byte {
	out := make([]byte, hex.EncodedLen(len(sum)))
	hex.Encode(out, sum)
	return out
}

// AcceptsContentType lets the gateway answer 415 before reading the body; Normalize
// applies the same rule.
func (s *Stripe) AcceptsContentType(mediaType string) bool {
	return isJSONMedia(mediaType)
}

// Normalize maps a Stripe event object: id = evt_…, type = stripe.<type>,
// subject = data.object.id (thin v2 events: related_object.id), time = created.
func (s *Stripe) Normalize(req *Request) (Result, error) {
	if !isJSONMedia(req.ContentType) {
		return Result{}, unsupportedMedia(req.ContentType, mediaJSON)
	}
	obj, err := decodeObject(req.Body, "stripe")
	if err != nil {
		return Result{}, err
	}
	id, ok := str(obj["id"])
	if !ok {
		return Result{}, invalidPayload("stripe event has no string id")
	}
	typ, ok := str(obj["type"])
	if !ok {
		return Result{}, invalidPayload("stripe event %s has no string type", id)
	}
	subject, ok := scalar(lookup(obj, "data", "object", "id"))
	if !ok {
		subject, _ = scalar(lookup(obj, "related_object", "id"))
	}
	at, ok := unixField(obj["created"])
	if !ok {
		if created, isStr := str(obj["created"]); isStr {
			// v2 (thin) events carry an RFC 3339 created time.
			if t, perr := time.Parse(time.RFC3339Nano, created); perr == nil {
				at, ok = t.UTC(), true
			}
		}
	}
	if !ok {
		at = s.now().UTC()
	}
	ev, err := providerEvent{
		provider:     KindStripe,
		providerType: typ,
		id:           id,
		typ:          "stripe." + typ,
		subject:      subject,
		time:         at,
		payload:      obj,
		headers:      keepHeaders(req.Header, commonHeaders...),
	}.build(req)
	if err != nil {
		return Result{}, err
	}
	return Result{Event: ev}, nil
}
