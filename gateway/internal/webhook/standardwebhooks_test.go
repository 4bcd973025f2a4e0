package webhook

import (
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func TestStandardWebhooksNormalize(t *testing.T) {
	src, err := NewStandardWebhooks(StandardWebhooksConfig{Secrets: []string{standardSecret}, Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	rot := vectorByID(t, "stdwh-valid-rotation-second-sig")
	pub := vectorByID(t, "stdwh-valid-published-sign-vector")
	tests := []struct {
		name string
		req  *Request
		want wantEvent
	}{
		{
			name: "type, data.id and body timestamp",
			req:  rot.request(t, "standard"),
			want: wantEvent{id: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", typ: "webhook.standard.contact.created",
				provider: "standard_webhooks", providerType: "contact.created", subject: "1f81eb52-5198-4599-803e-771906343485",
				time:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
				headers: map[string]string{"webhook-id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", "webhook-timestamp": "1767225600"}},
		},
		{
			name: "no type: received; no body timestamp: the header's",
			req:  pub.request(t, "partner"),
			want: wantEvent{id: "msg_p5jXN8AQM9LWM0D4loKWxJek", typ: "webhook.partner.received", provider: "standard_webhooks",
				time: time.Unix(1614265330, 0)},
		},
		{
			name: "svix headers",
			req: newReq("svixsrc", "application/json", []byte(`{"type":"invoice.paid","data":{"id":42}}`),
				"svix-id", "msg_svix", "svix-timestamp", "1767225000", "svix-signature", "v1,x"),
			want: wantEvent{id: "msg_svix", typ: "webhook.svixsrc.invoice.paid", provider: "standard_webhooks",
				subject: "42", time: time.Unix(1767225000, 0), headers: map[string]string{"svix-id": "msg_svix"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := src.Normalize(tt.req)
			checkEvent(t, tt.req, res, err, tt.want)
		})
	}
}

func TestStandardWebhooksNormalizeErrors(t *testing.T) {
	src, err := NewStandardWebhooks(StandardWebhooksConfig{Secrets: []string{standardSecret}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Normalize(newReq("s", "application/json", []byte(`{`), "webhook-id", "m"))
	wantError(t, err, 400, CodeMalformedJSON)
	_, err = src.Normalize(newReq("s", "text/plain", []byte(`{}`), "webhook-id", "m"))
	wantError(t, err, 415, CodeUnsupportedMediaType)
	_, err = src.Normalize(newReq("s", "application/json", []byte(`{}`)))
	wantError(t, err, 400, CodeInvalidPayload)
}

// TestStandardWebhooksV1aVectors replays the v1a (Ed25519) vectors: v1a alone, v1
// and v1a in one header with either kind of key, rotation, and the failures.
func TestStandardWebhooksV1aVectors(t *testing.T) {
	f := loadVectorFile(t, "testdata/v1a_vectors.json")
	for _, v := range f.Vectors {
		t.Run(v.ID, func(t *testing.T) {
			err := vectorVerifier(t, v)(v.request(t, v.Scheme), v.now())
			checkVectorResult(t, v, f.ReasonCodes, err)
		})
	}
}

func TestStandardWebhooksKeyErrors(t *testing.T) {
	pub := base64.StdEncoding.EncodeToString(make([]byte, ed25519.PublicKeySize))
	tests := []struct {
		name, secret, want string
	}{
		{"signing key instead of public key", "whsk_" + pub, "whsk_ signing key"},
		{"public key too short", "whpk_" + pub[:20], "not a whpk_ Ed25519 public key"},
		{"public key not base64", "whpk_!!!!", "not a whpk_ Ed25519 public key"},
		{"symmetric not base64", "whsec_!!!!", "is not base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewStandardWebhooks(StandardWebhooksConfig{Secrets: []string{standardSecret, tt.secret}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), tt.secret) {
				t.Fatalf("error %q repeats the secret", err)
			}
		})
	}
}

// TestStandardWebhooksMixedKeys: with both kinds of key configured, a v1 alone and a
// v1a alone each verify, and a list of only unknown versions names both.
func TestStandardWebhooksMixedKeys(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	src, err := NewStandardWebhooks(StandardWebhooksConfig{
		Secrets: []string{"", standardSecret, "whpk_" + base64.StdEncoding.EncodeToString(pub)},
	})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"a.b"}`)
	ts := testNow.Unix()
	v1a := "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte("msg_1."+itoa(ts)+"."+string(body))))
	for name, sig := range map[string]string{
		"v1":  signStandard(standardSecret, "msg_1", ts, body),
		"v1a": v1a,
	} {
		t.Run(name, func(t *testing.T) {
			req := newReq("s", "application/json", body, "webhook-id", "msg_1", "webhook-timestamp", itoa(ts), "webhook-signature", sig)
			if err := src.Verify(req, testNow); err != nil {
				t.Fatal(err)
			}
		})
	}
	req := newReq("s", "application/json", body, "webhook-id", "msg_1", "webhook-timestamp", itoa(ts), "webhook-signature", "v2,abc")
	err = src.Verify(req, testNow)
	wantError(t, err, 401, CodeUnsupportedScheme)
	if !strings.Contains(err.Error(), "v1 or v1a") {
		t.Fatalf("error %q does not name v1 or v1a", err)
	}
}
