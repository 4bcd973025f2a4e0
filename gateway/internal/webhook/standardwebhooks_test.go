package webhook

import (
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
