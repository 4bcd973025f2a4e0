package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

const hmacSecret = "partner-secret"

// macWith is the HMAC of msg with hmacSecret.
func macWith(h func() hash.Hash, msg string) []byte {
	m := hmac.New(h, []byte(hmacSecret))
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func TestHMACVerify(t *testing.T) {
	b := []byte(`{"event":"order.created","data":{"id":"o_1"}}`)
	ts := itoa(testNow.Unix())
	sha256hex := hex.EncodeToString(macWith(sha256.New, string(b)))
	tests := []struct {
		name    string
		cfg     HMACConfig
		headers []string
		now     time.Time
		code    string // "" = valid
	}{
		{"body only, hex, default algorithm", HMACConfig{Header: "X-Signature"},
			[]string{"X-Signature", sha256hex}, time.Time{}, ""},
		{"upper-case hex accepted", HMACConfig{Header: "X-Signature"},
			[]string{"X-Signature", strings.ToUpper(sha256hex)}, time.Time{}, ""},
		{"prefix", HMACConfig{Header: "X-Signature", Prefix: "sha256="},
			[]string{"X-Signature", "sha256=" + sha256hex}, time.Time{}, ""},
		{"prefix missing", HMACConfig{Header: "X-Signature", Prefix: "sha256="},
			[]string{"X-Signature", sha256hex}, time.Time{}, CodeMalformedHeader},
		{"sha512 base64", HMACConfig{Header: "X-Sig", Algorithm: "sha512", Encoding: "base64"},
			[]string{"X-Sig", base64.StdEncoding.EncodeToString(macWith(sha512.New, string(b)))}, time.Time{}, ""},
		{"base64 without padding", HMACConfig{Header: "X-Sig", Encoding: "base64"},
			[]string{"X-Sig", base64.RawStdEncoding.EncodeToString(macWith(sha256.New, string(b)))}, time.Time{}, ""},
		{"base64url", HMACConfig{Header: "X-Sig", Encoding: "base64url"},
			[]string{"X-Sig", base64.URLEncoding.EncodeToString(macWith(sha256.New, string(b)))}, time.Time{}, ""},
		{"sha256 digest where sha512 is configured", HMACConfig{Header: "X-Sig", Algorithm: "sha512"},
			[]string{"X-Sig", sha256hex}, time.Time{}, CodeSignatureMismatch},
		{"hex where base64 is configured", HMACConfig{Header: "X-Sig", Encoding: "base64"},
			[]string{"X-Sig", sha256hex}, time.Time{}, CodeSignatureMismatch},
		{"not hex", HMACConfig{Header: "X-Sig"},
			[]string{"X-Sig", "zz"}, time.Time{}, CodeSignatureMismatch},
		{"missing header", HMACConfig{Header: "X-Sig"},
			[]string{"X-Other", sha256hex}, time.Time{}, CodeMissingHeader},
		{"timestamp default template {timestamp}.{body}", HMACConfig{Header: "X-Sig", TimestampHeader: "X-Timestamp"},
			[]string{"X-Sig", hex.EncodeToString(macWith(sha256.New, ts+"."+string(b))), "X-Timestamp", ts}, time.Time{}, ""},
		{"timestamp missing", HMACConfig{Header: "X-Sig", TimestampHeader: "X-Timestamp"},
			[]string{"X-Sig", sha256hex}, time.Time{}, CodeMissingHeader},
		{"timestamp not an integer", HMACConfig{Header: "X-Sig", TimestampHeader: "X-Timestamp"},
			[]string{"X-Sig", sha256hex, "X-Timestamp", "2026-01-01"}, time.Time{}, CodeMalformedHeader},
		{"timestamp expired beats a bad digest", HMACConfig{Header: "X-Sig", TimestampHeader: "X-Timestamp"},
			[]string{"X-Sig", "not-a-digest", "X-Timestamp", ts}, testNow.Add(301 * time.Second), CodeTimestampExpired},
		{"timestamp in the future", HMACConfig{Header: "X-Sig", TimestampHeader: "X-Timestamp", Tolerance: time.Minute},
			[]string{"X-Sig", sha256hex, "X-Timestamp", ts}, testNow.Add(-61 * time.Second), CodeTimestampInFuture},
		{"id and timestamp signed", HMACConfig{Header: "X-Sig", TimestampHeader: "X-Ts", IDFrom: "header:X-Event-Id",
			SignedContent: "{id}:{timestamp}:{body}"},
			[]string{"X-Sig", hex.EncodeToString(macWith(sha256.New, "ev_9:"+ts+":"+string(b))), "X-Ts", ts, "X-Event-Id", "ev_9"}, time.Time{}, ""},
		{"signed id changed", HMACConfig{Header: "X-Sig", IDFrom: "header:X-Event-Id", SignedContent: "{id}.{body}"},
			[]string{"X-Sig", hex.EncodeToString(macWith(sha256.New, "ev_9."+string(b))), "X-Event-Id", "ev_8"}, time.Time{}, CodeSignatureMismatch},
		{"signed id header missing", HMACConfig{Header: "X-Sig", IDFrom: "header:X-Event-Id", SignedContent: "{id}.{body}"},
			[]string{"X-Sig", sha256hex}, time.Time{}, CodeMissingHeader},
		{"second secret", HMACConfig{Header: "X-Sig", Secrets: []string{"old", hmacSecret}},
			[]string{"X-Sig", sha256hex}, time.Time{}, ""},
		{"wrong secret", HMACConfig{Header: "X-Sig", Secrets: []string{"old"}},
			[]string{"X-Sig", sha256hex}, time.Time{}, CodeSignatureMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.Secrets == nil {
				tt.cfg.Secrets = []string{hmacSecret}
			}
			src, err := NewHMAC(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			now := tt.now
			if now.IsZero() {
				now = testNow
			}
			err = src.Verify(newReq("partner", "application/json", b, tt.headers...), now)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("want valid: %v", err)
				}
				return
			}
			wantError(t, err, http.StatusUnauthorized, tt.code)
		})
	}
}

func TestHMACNormalize(t *testing.T) {
	b := `{"event":"order.created","data":{"id":"o_1","items":[{"sku":"A-1","n":820982911946154508}]}}`
	tests := []struct {
		name    string
		cfg     HMACConfig
		ct      string
		body    string
		headers []string
		want    wantEvent
	}{
		{
			name:    "header id, json type and subject, timestamp time",
			cfg:     HMACConfig{IDFrom: "header:X-Event-Id", TypeFrom: "json:$.event", SubjectFrom: "json:$.data.id", TimestampHeader: "X-Ts"},
			body:    b,
			headers: []string{"X-Event-Id", "ev_1", "X-Ts", "1767225000", "X-Signature", "secret-looking"},
			want: wantEvent{id: "ev_1", typ: "webhook.partner.order.created", provider: "hmac", providerType: "order.created",
				subject: "o_1", time: time.Unix(1767225000, 0),
				headers: map[string]string{"x-event-id": "ev_1", "x-ts": "1767225000"}},
		},
		{
			name: "json id with an index keeps every digit; header type",
			cfg:  HMACConfig{IDFrom: "json:$.data.items[0].n", TypeFrom: "header:X-Event-Type"},
			body: b, headers: []string{"X-Event-Type", "order.paid"},
			want: wantEvent{id: "820982911946154508", typ: "webhook.partner.order.paid", provider: "hmac", time: testNow,
				headers: map[string]string{"x-event-type": "order.paid"}},
		},
		{
			name: "quoted key",
			cfg:  HMACConfig{IDFrom: `json:$["odd.key"]`},
			body: `{"odd.key":"k1"}`,
			want: wantEvent{id: "k1", typ: "webhook.partner.received", provider: "hmac"},
		},
		{
			name: "absent subject is empty, not an error",
			cfg:  HMACConfig{IDFrom: "json:$.data.id", SubjectFrom: "json:$.nope"},
			body: b,
			want: wantEvent{id: "o_1", typ: "webhook.partner.received", provider: "hmac"},
		},
		{
			name: "form body: fields as an object",
			cfg:  HMACConfig{IDFrom: "json:$.delivery", TypeFrom: "json:$.kind"},
			ct:   form, body: "delivery=d-7&kind=ping.sent&tag=a&tag=b",
			want: wantEvent{id: "d-7", typ: "webhook.partner.ping.sent", provider: "hmac", contentType: form,
				payload: func(t *testing.T, p map[string]any) {
					if tags, ok := p["tag"].([]any); !ok || len(tags) != 2 {
						t.Errorf("repeated field = %v", p["tag"])
					}
				}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Secrets, tt.cfg.Header, tt.cfg.Now = []string{hmacSecret}, "X-Signature", fixedClock
			src, err := NewHMAC(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			ct := tt.ct
			if ct == "" {
				ct = "application/json"
			}
			req := newReq("partner", ct, []byte(tt.body), tt.headers...)
			res, err := src.Normalize(req)
			ev := checkEvent(t, req, res, err, tt.want)
			if _, kept := ev.GetProvider().GetHeaders()["x-signature"]; kept {
				t.Error("signature header kept")
			}
		})
	}
}

func TestHMACWithoutIDFromGeneratesUUIDv7(t *testing.T) {
	src, err := NewHMAC(HMACConfig{Secrets: []string{hmacSecret}, Header: "X-Sig"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := src.Normalize(newReq("partner", "application/json", []byte(`{}`)))
	if err != nil {
		t.Fatal(err)
	}
	if u, err := uuid.Parse(res.Event.GetId()); err != nil || u.Version() != 7 {
		t.Fatalf("id %q is not a UUIDv7", res.Event.GetId())
	}
	if res.Event.GetType() != "webhook.partner.received" {
		t.Fatalf("type %q", res.Event.GetType())
	}
}

func TestHMACNormalizeErrors(t *testing.T) {
	src, err := NewHMAC(HMACConfig{Secrets: []string{hmacSecret}, Header: "X-Sig", IDFrom: "json:$.id", TypeFrom: "header:X-Type"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, ct, body string
		headers        []string
		status         int
		code           string
	}{
		{"id absent", "application/json", `{"x":1}`, []string{"X-Type", "t"}, 400, CodeInvalidPayload},
		{"id is an object", "application/json", `{"id":{}}`, []string{"X-Type", "t"}, 400, CodeInvalidPayload},
		{"id is null", "application/json", `{"id":null}`, []string{"X-Type", "t"}, 400, CodeInvalidPayload},
		{"type absent", "application/json", `{"id":"a"}`, nil, 400, CodeInvalidPayload},
		{"not JSON", "application/json", `id=a`, []string{"X-Type", "t"}, 400, CodeMalformedJSON},
		{"broken form", form, `id=%`, []string{"X-Type", "t"}, 400, CodeInvalidPayload},
		{"xml", "application/xml", `<a/>`, []string{"X-Type", "t"}, 415, CodeUnsupportedMediaType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := src.Normalize(newReq("partner", tt.ct, []byte(tt.body), tt.headers...))
			wantError(t, err, tt.status, tt.code)
		})
	}
}

func TestHMACConfigValidate(t *testing.T) {
	ok := HMACConfig{Secrets: []string{"s"}, Header: "X-Sig"}
	tests := []struct {
		name   string
		change func(c *HMACConfig)
		want   string // error substring; "" = valid
	}{
		{"minimal", func(*HMACConfig) {}, ""},
		{"everything", func(c *HMACConfig) {
			c.Algorithm, c.Encoding, c.Prefix, c.TimestampHeader = "sha512", "base64url", "v1=", "X-Ts"
			c.SignedContent, c.IDFrom, c.TypeFrom, c.SubjectFrom = "{id}|{timestamp}|{body}", "header:X-Id", "json:$.type", "json:$.a[2]"
		}, ""},
		{"no secret", func(c *HMACConfig) { c.Secrets = []string{""} }, "no secret"},
		{"no header", func(c *HMACConfig) { c.Header = " " }, "header: required"},
		{"sha1", func(c *HMACConfig) { c.Algorithm = "sha1" }, `algorithm "sha1"`},
		{"base32", func(c *HMACConfig) { c.Encoding = "base32" }, `encoding "base32"`},
		{"template without body", func(c *HMACConfig) { c.SignedContent = "{timestamp}"; c.TimestampHeader = "X-Ts" }, "{body} exactly once"},
		{"template with body twice", func(c *HMACConfig) { c.SignedContent = "{body}{body}" }, "{body} exactly once"},
		{"unknown placeholder", func(c *HMACConfig) { c.SignedContent = "{nonce}.{body}" }, "unknown placeholder {nonce}"},
		{"unclosed brace", func(c *HMACConfig) { c.SignedContent = "{body}.{" }, "unclosed"},
		{"timestamp without header", func(c *HMACConfig) { c.SignedContent = "{timestamp}.{body}" }, "needs timestamp_header"},
		{"id without id_from", func(c *HMACConfig) { c.SignedContent = "{id}.{body}" }, "{id} needs id_from"},
		{"id from the body cannot be signed", func(c *HMACConfig) { c.SignedContent = "{id}.{body}"; c.IDFrom = "json:$.id" }, "{id} needs id_from: header"},
		{"bad id_from", func(c *HMACConfig) { c.IDFrom = "body.id" }, "id_from"},
		{"bad type_from", func(c *HMACConfig) { c.TypeFrom = "json:data.type" }, "type_from"},
		{"bad subject_from", func(c *HMACConfig) { c.SubjectFrom = "query:x" }, "subject_from"},
		{"bad tolerance", func(c *HMACConfig) { c.TimestampHeader = "X-Ts"; c.Tolerance = -time.Second }, "tolerance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			c.Secrets = append([]string(nil), ok.Secrets...)
			tt.change(&c)
			err := c.Validate()
			_, nerr := NewHMAC(c)
			if (err == nil) != (nerr == nil) {
				t.Fatalf("Validate %v but NewHMAC %v", err, nerr)
			}
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestHMACFormVerifiedOverRawBytes(t *testing.T) {
	// The form body is signed as sent; re-encoding it (here: + instead of %20)
	// must not verify even though it decodes to the same fields.
	sent := "text=hello%20world&id=1"
	src, err := NewHMAC(HMACConfig{Secrets: []string{hmacSecret}, Header: "X-Sig"})
	if err != nil {
		t.Fatal(err)
	}
	sig := hex.EncodeToString(macWith(sha256.New, sent))
	if err := src.Verify(newReq("p", form, []byte(sent), "X-Sig", sig), testNow); err != nil {
		t.Fatal(err)
	}
	re := url.Values{"text": {"hello world"}, "id": {"1"}}.Encode()
	wantError(t, src.Verify(newReq("p", form, []byte(re), "X-Sig", sig), testNow), 401, CodeSignatureMismatch)
}
