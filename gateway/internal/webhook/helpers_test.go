package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// testNow is the fixed clock of the tests (2026-01-01T00:00:00Z).
var testNow = time.Unix(1767225600, 0).UTC()

func fixedClock() time.Time { return testNow }

// Independent signers: what each provider computes, written out with crypto/hmac
// directly rather than through the code under test.

func hmacSHA256(key, msg string) []byte {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func signStripe(secret string, ts int64, body []byte) string {
	return fmt.Sprintf("t=%d,v1=%s", ts, hex.EncodeToString(hmacSHA256(secret, fmt.Sprintf("%d.%s", ts, body))))
}

func signGitHub(secret string, body []byte) string {
	return "sha256=" + hex.EncodeToString(hmacSHA256(secret, string(body)))
}

func signShopify(secret string, body []byte) string {
	return base64.StdEncoding.EncodeToString(hmacSHA256(secret, string(body)))
}

// signSlack signs body with the current Slack signing secret.
func signSlack(ts int64, body []byte) string {
	return "v0=" + hex.EncodeToString(hmacSHA256(slackSecret, fmt.Sprintf("v0:%d:%s", ts, body)))
}

func signStandard(secret, id string, ts int64, body []byte) string {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		panic(err)
	}
	return "v1," + base64.StdEncoding.EncodeToString(hmacSHA256(string(key), fmt.Sprintf("%s.%d.%s", id, ts, body)))
}

// newReq builds a request; headers are name, value pairs.
func newReq(source, contentType string, body []byte, headers ...string) *Request {
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Add(headers[i], headers[i+1])
	}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return &Request{Source: source, Header: h, Body: body, ContentType: contentType}
}

// wantError asserts err is a *webhook.Error with this status and code.
func wantError(t *testing.T, err error, status int, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %d %s, got no error", status, code)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *webhook.Error", err, err)
	}
	if e.Status != status || e.Code != code {
		t.Fatalf("got %d %s (%s), want %d %s", e.Status, e.Code, e.Message, status, code)
	}
	if e.Message == "" {
		t.Fatal("error without a message")
	}
}

// signatureHeaders must never be copied into ProviderWebhook.headers.
var signatureHeaders = []string{"stripe-signature", "x-hub-signature", "x-hub-signature-256",
	"x-shopify-hmac-sha256", "shopify-hmac-sha256", "x-slack-signature", "webhook-signature", "svix-signature", "x-signature"}

// wantEvent is what a normalised event must carry. Zero fields are not checked,
// except id, type and provider which always are.
type wantEvent struct {
	id, typ, subject, provider, providerType, deliveryID, contentType string
	time                                                              time.Time
	headers                                                           map[string]string // must be kept with these values
	payload                                                           func(t *testing.T, p map[string]any)
}

func checkEvent(t *testing.T, req *Request, res Result, err error, w wantEvent) *eventv1.Event {
	t.Helper()
	if err != nil {
		t.Fatalf("Normalize: %v", err)
	}
	if res.Reply != nil {
		t.Fatalf("unexpected handshake reply %q", res.Reply)
	}
	ev := res.Event
	if ev == nil {
		t.Fatal("no event")
	}
	if ev.GetId() != w.id || ev.GetType() != w.typ {
		t.Errorf("id, type = %q, %q; want %q, %q", ev.GetId(), ev.GetType(), w.id, w.typ)
	}
	if ev.GetSource() != req.Source {
		t.Errorf("source %q, want %q", ev.GetSource(), req.Source)
	}
	if ev.GetSubject() != w.subject {
		t.Errorf("subject %q, want %q", ev.GetSubject(), w.subject)
	}
	if ev.GetTime() == nil {
		t.Error("time not set")
	} else if !w.time.IsZero() && !ev.GetTime().AsTime().Equal(w.time) {
		t.Errorf("time %v, want %v", ev.GetTime().AsTime(), w.time)
	}
	ct := w.contentType
	if ct == "" {
		ct = "application/json"
	}
	if ev.GetDatacontenttype() != ct {
		t.Errorf("datacontenttype %q, want %q", ev.GetDatacontenttype(), ct)
	}
	if string(ev.GetOriginalBody()) != string(req.Body) {
		t.Error("original_body differs from the raw body")
	}
	p := ev.GetProvider()
	if p == nil {
		t.Fatal("payload is not a ProviderWebhook")
	}
	if p.GetProvider() != w.provider {
		t.Errorf("provider %q, want %q", p.GetProvider(), w.provider)
	}
	if w.providerType != "" && p.GetProviderEventType() != w.providerType {
		t.Errorf("provider_event_type %q, want %q", p.GetProviderEventType(), w.providerType)
	}
	if p.GetDeliveryId() != w.deliveryID {
		t.Errorf("delivery_id %q, want %q", p.GetDeliveryId(), w.deliveryID)
	}
	for k, v := range w.headers {
		if got, ok := p.GetHeaders()[k]; !ok || got != v {
			t.Errorf("header %s = %q (kept %v), want %q", k, got, ok, v)
		}
	}
	for k := range p.GetHeaders() {
		if k != strings.ToLower(k) {
			t.Errorf("header name %q is not lower-case", k)
		}
		for _, s := range signatureHeaders {
			if k == s {
				t.Errorf("signature header %s was kept", k)
			}
		}
	}
	if w.payload != nil {
		obj, ok := p.GetPayload().AsInterface().(map[string]any)
		if !ok {
			t.Fatalf("payload is %T, want an object", p.GetPayload().AsInterface())
		}
		w.payload(t, obj)
	}
	// The event must survive the wire format the log uses.
	if _, err := proto.Marshal(ev); err != nil {
		t.Fatalf("proto.Marshal: %v", err)
	}
	return ev
}

// vectorByID finds a vector of the shared set.
func vectorByID(t *testing.T, id string) vector {
	t.Helper()
	for _, v := range loadVectors(t).Vectors {
		if v.ID == id {
			return v
		}
	}
	t.Fatalf("no vector %s", id)
	return vector{}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func hexString(b []byte) string { return hex.EncodeToString(b) }
