package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"strings"
	"time"
)

// HMACConfig configures a `kind: hmac` source: any provider that signs the raw body
// (optionally with a timestamp and an id) with a shared secret.
type HMACConfig struct {
	// Secrets are shared secrets (their UTF-8 bytes are the key). Any may match.
	Secrets []string
	// Header carries the signature, e.g. X-Signature. Required.
	Header string
	// Algorithm is sha256 (default) or sha512.
	Algorithm string
	// Encoding of the digest: hex (default; either case), base64 or base64url
	// (padding optional).
	Encoding string
	// Prefix precedes the digest in Header, e.g. "sha256=". A value without it is
	// malformed_header.
	Prefix string
	// TimestampHeader, when set, carries the Unix time in seconds; it is required on
	// every request and checked against Tolerance in both directions.
	TimestampHeader string
	// SignedContent is the template of the signed bytes: {body} (exactly once) and
	// optionally {timestamp} (needs TimestampHeader) and {id} (needs IDFrom with
	// header:), other characters literal. Default: "{body}", or "{timestamp}.{body}"
	// when TimestampHeader is set.
	SignedContent string
	// Tolerance is the timestamp window; 0 means DefaultTolerance.
	Tolerance time.Duration
	// IDFrom names the event id (see Extractor), so re-deliveries de-duplicate.
	// Unset: every delivery gets a new UUIDv7 and nothing is de-duplicated.
	IDFrom string
	// TypeFrom names the event type: webhook.<source>.<value>. Unset:
	// webhook.<source>.received.
	TypeFrom string
	// SubjectFrom names the subject; unset or absent in a request: empty.
	SubjectFrom string
	// Now stamps events without TimestampHeader; nil means time.Now.
	Now func() time.Time
}

// template segment kinds.
const (
	segLiteral = iota
	segBody
	segTimestamp
	segID
)

type segment struct {
	kind    int
	literal []byte
}

// parseTemplate compiles SignedContent into segments.
func parseTemplate(t string) ([]segment, error) {
	var segs []segment
	bodies := 0
	for t != "" {
		open := strings.IndexByte(t, '{')
		if open < 0 {
			segs = append(segs, segment{kind: segLiteral, literal: []byte(t)})
			break
		}
		if open > 0 {
			segs = append(segs, segment{kind: segLiteral, literal: []byte(t[:open])})
		}
		end := strings.IndexByte(t[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("signed_content: unclosed '{'")
		}
		name := t[open+1 : open+end]
		switch name {
		case "body":
			bodies++
			segs = append(segs, segment{kind: segBody})
		case "timestamp":
			segs = append(segs, segment{kind: segTimestamp})
		case "id":
			segs = append(segs, segment{kind: segID})
		default:
			return nil, fmt.Errorf("signed_content: unknown placeholder {%s} (want {body}, {timestamp} or {id})", name)
		}
		t = t[open+end+1:]
	}
	if bodies != 1 {
		return nil, fmt.Errorf("signed_content: must contain {body} exactly once")
	}
	return segs, nil
}

// hmacSettings is a validated HMACConfig.
type hmacSettings struct {
	keys     [][]byte
	newHash  func() hash.Hash
	size     int
	decode   func(string) ([]byte, error)
	segs     []segment
	usesTS   bool
	usesID   bool
	tol      time.Duration
	id, typ  *Extractor
	subject  *Extractor
	now      func() time.Time
	header   string
	prefix   string
	tsHeader string
}

func decodeBase64Loose(enc *base64.Encoding) func(string) ([]byte, error) {
	return func(s string) ([]byte, error) {
		return enc.WithPadding(base64.NoPadding).DecodeString(strings.TrimRight(s, "="))
	}
}

func (c HMACConfig) settings() (*hmacSettings, error) {
	s := &hmacSettings{header: http.CanonicalHeaderKey(strings.TrimSpace(c.Header)), prefix: c.Prefix,
		tsHeader: strings.TrimSpace(c.TimestampHeader), now: clock(c.Now)}
	var err error
	if s.keys, err = rawKeys(c.Secrets); err != nil {
		return nil, err
	}
	if s.header == "" {
		return nil, fmt.Errorf("header: required (the header carrying the signature)")
	}
	switch c.Algorithm {
	case "", "sha256":
		s.newHash, s.size = sha256.New, sha256.Size
	case "sha512":
		s.newHash, s.size = sha512.New, sha512.Size
	default:
		return nil, fmt.Errorf("algorithm %q: want sha256 or sha512", c.Algorithm)
	}
	switch c.Encoding {
	case "", "hex":
		s.decode = hex.DecodeString
	case "base64":
		s.decode = decodeBase64Loose(base64.StdEncoding)
	case "base64url":
		s.decode = decodeBase64Loose(base64.URLEncoding)
	default:
		return nil, fmt.Errorf("encoding %q: want hex, base64 or base64url", c.Encoding)
	}
	tmpl := c.SignedContent
	if tmpl == "" {
		tmpl = "{body}"
		if s.tsHeader != "" {
			tmpl = "{timestamp}.{body}"
		}
	}
	if s.segs, err = parseTemplate(tmpl); err != nil {
		return nil, err
	}
	for _, seg := range s.segs {
		s.usesTS = s.usesTS || seg.kind == segTimestamp
		s.usesID = s.usesID || seg.kind == segID
	}
	if s.usesTS && s.tsHeader == "" {
		return nil, fmt.Errorf("signed_content: {timestamp} needs timestamp_header")
	}
	if s.tsHeader != "" {
		if s.tol, err = tolerance(c.Tolerance); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		name, value string
		dst         **Extractor
	}{{"id_from", c.IDFrom, &s.id}, {"type_from", c.TypeFrom, &s.typ}, {"subject_from", c.SubjectFrom, &s.subject}} {
		if f.value == "" {
			continue
		}
		e, err := ParseExtractor(f.value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		*f.dst = &e
	}
	if s.usesID && (s.id == nil || !s.id.IsHeader()) {
		// A json: id would mean parsing the body before it is verified.
		return nil, fmt.Errorf("signed_content: {id} needs id_from: header:<Name>")
	}
	return s, nil
}

// Validate reports a configuration that cannot verify anything.
func (c HMACConfig) Validate() error {
	if _, err := c.settings(); err != nil {
		return fmt.Errorf("hmac source: %w", err)
	}
	return nil
}

// HMAC is the generic signed-body source.
type HMAC struct{ s *hmacSettings }

var _ Source = (*HMAC)(nil)

// NewHMAC validates cfg and fills its defaults.
func NewHMAC(cfg HMACConfig) (*HMAC, error) {
	s, err := cfg.settings()
	if err != nil {
		return nil, fmt.Errorf("hmac source: %w", err)
	}
	return &HMAC{s: s}, nil
}

// parseHMACHeader strips the configured prefix and decodes the digest. A value
// without the prefix is malformed; one that does not decode to a digest of the
// algorithm's size is a mismatch (a wrong digest encoding).
func parseHMACHeader(v, prefix string, decode func(string) ([]byte, error), size int) ([]byte, error) {
	digest, err := cutHMACPrefix(v, prefix)
	if err != nil {
		return nil, err
	}
	return decodeDigest(digest, decode, size)
}

func cutHMACPrefix(v, prefix string) (string, error) {
	digest, ok := strings.CutPrefix(v, prefix)
	if !ok {
		return "", Unauthorized(CodeMalformedHeader, "signature header does not start with the configured prefix")
	}
	return digest, nil
}

func decodeDigest(digest string, decode func(string) ([]byte, error), size int) ([]byte, error) {
	sum, err := decode(digest)
	if err != nil || len(sum) != size {
		return nil, Unauthorized(CodeSignatureMismatch, "signature header does not hold a digest in the configured encoding")
	}
	return sum, nil
}

// Verify checks, in order: signature, timestamp and signed id headers present;
// prefix and timestamp parse; timestamp in window; digest decodes and equals
// HMAC(secret, signed content) for any secret.
func (h *HMAC) Verify(req *Request, now time.Time) error {
	s := h.s
	v := header(req.Header, s.header)
	if v == "" {
		return Unauthorized(CodeMissingHeader, "header "+s.header+" is missing")
	}
	var rawTS string
	if s.tsHeader != "" {
		if rawTS = header(req.Header, s.tsHeader); rawTS == "" {
			return Unauthorized(CodeMissingHeader, "header "+s.tsHeader+" is missing")
		}
	}
	var id string
	if s.usesID {
		if id, _ = s.id.Extract(req.Header, nil); id == "" {
			return Unauthorized(CodeMissingHeader, "header "+s.id.header+" (signed id) is missing")
		}
	}
	var ts int64
	if s.tsHeader != "" {
		var ok bool
		if ts, ok = parseUnix(rawTS); !ok {
			return Unauthorized(CodeMalformedHeader, s.tsHeader+" is not a Unix time in seconds")
		}
	}
	digest, err := cutHMACPrefix(v, s.prefix)
	if err != nil {
		return err
	}
	if s.tsHeader != "" {
		if err := checkWindow(ts, now, s.tol); err != nil {
			return err
		}
	}
	sum, err := decodeDigest(digest, s.decode, s.size)
	if err != nil {
		return err
	}
	ok := 0
	for _, k := range s.keys {
		m := hmac.New(s.newHash, k)
		for _, seg := range s.segs {
			switch seg.kind {
			case segLiteral:
				m.Write(seg.literal)
			case segBody:
				m.Write(req.Body)
			case segTimestamp:
				m.Write([]byte(rawTS))
			case segID:
				m.Write([]byte(id))
			}
		}
		if hmac.Equal(m.Sum(nil), sum) {
			ok = 1
		}
	}
	if ok != 1 {
		return Unauthorized(CodeSignatureMismatch, s.header+" does not match a configured secret")
	}
	return nil
}

// AcceptsContentType lets the gateway answer 415 before reading the body; Normalize
// applies the same rule.
func (h *HMAC) AcceptsContentType(mediaType string) bool {
	return isJSONMedia(mediaType) || mediaType == mediaForm
}

// Normalize decodes a JSON or form body and applies id_from, type_from and subject_from.
func (h *HMAC) Normalize(req *Request) (Result, error) {
	s := h.s
	var body any
	switch {
	case isJSONMedia(req.ContentType):
		var err error
		if body, err = decodeJSON(req.Body); err != nil {
			return Result{}, err
		}
	case req.ContentType == mediaForm:
		vals, err := parseForm(req.Body)
		if err != nil {
			return Result{}, err
		}
		body = formObject(vals)
	default:
		return Result{}, unsupportedMedia(req.ContentType, mediaJSON+" or "+mediaForm)
	}
	var id string
	if s.id != nil {
		var ok bool
		if id, ok = s.id.Extract(req.Header, body); !ok {
			return Result{}, invalidPayload("id_from %s: no value in this request", s.id)
		}
	} else {
		var err error
		if id, err = newV7(); err != nil {
			return Result{}, err
		}
	}
	providerType := "received"
	if s.typ != nil {
		var ok bool
		if providerType, ok = s.typ.Extract(req.Header, body); !ok {
			return Result{}, invalidPayload("type_from %s: no value in this request", s.typ)
		}
	}
	var subject string
	if s.subject != nil {
		subject, _ = s.subject.Extract(req.Header, body)
	}
	at := s.now().UTC()
	if n, ok := parseUnix(header(req.Header, s.tsHeader)); s.tsHeader != "" && ok {
		at = time.Unix(n, 0).UTC()
	}
	keep := append([]string(nil), commonHeaders...)
	if s.tsHeader != "" {
		keep = append(keep, s.tsHeader)
	}
	for _, e := range []*Extractor{s.id, s.typ, s.subject} {
		if e != nil && e.IsHeader() && !strings.EqualFold(e.header, s.header) {
			keep = append(keep, e.header)
		}
	}
	ev, err := providerEvent{
		provider:     KindHMAC,
		providerType: providerType,
		id:           id,
		typ:          "webhook." + req.Source + "." + providerType,
		subject:      subject,
		time:         at,
		payload:      body,
		headers:      keepHeaders(req.Header, keep...),
	}.build(req)
	if err != nil {
		return Result{}, err
	}
	return Result{Event: ev}, nil
}
