package webhook

import (
	"net/http"
	"testing"
	"time"
)

func TestStripeNormalize(t *testing.T) {
	src, err := NewStripe(StripeConfig{Secrets: []string{stripeSecret}, Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	vec := vectorByID(t, "stripe-valid-basic")
	thin := `{"id":"evt_test_65R9Ijk8","object":"v2.core.event","type":"v1.billing.meter.error_report_triggered",` +
		`"created":"2024-09-17T06:20:52.246Z","related_object":{"id":"mtr_test_61R9","type":"billing.meter"}}`
	tests := []struct {
		name string
		req  *Request
		want wantEvent
	}{
		{
			name: "payment_intent.succeeded from the vectors",
			req:  vec.request(t, "stripe"),
			want: wantEvent{
				id: "evt_1QgW3mKZ8x9Yt2AbCdEfGhIj", typ: "stripe.payment_intent.succeeded", provider: "stripe",
				providerType: "payment_intent.succeeded", subject: "pi_3QgW3lKZ8x9Yt2Ab0a1b2c3d",
				time:    time.Unix(1767225598, 0),
				headers: map[string]string{"content-type": "application/json; charset=utf-8"},
				payload: func(t *testing.T, p map[string]any) {
					if got := p["data"].(map[string]any)["object"].(map[string]any)["amount"]; got != float64(2000) {
						t.Errorf("data.object.amount = %v", got)
					}
				},
			},
		},
		{
			name: "thin v2 event: related_object, RFC 3339 created",
			req:  newReq("stripe", "application/json", []byte(thin)),
			want: wantEvent{
				id: "evt_test_65R9Ijk8", typ: "stripe.v1.billing.meter.error_report_triggered", provider: "stripe",
				subject: "mtr_test_61R9", time: time.Date(2024, 9, 17, 6, 20, 52, 246e6, time.UTC),
			},
		},
		{
			name: "no created: the clock",
			req:  newReq("stripe", "", []byte(`{"id":"evt_2","type":"customer.created","data":{"object":{"id":"cus_1"}}}`)),
			want: wantEvent{id: "evt_2", typ: "stripe.customer.created", provider: "stripe", subject: "cus_1", time: testNow},
		},
		{
			name: "+json media type",
			req:  newReq("stripe", "application/vnd.stripe+json", []byte(`{"id":"evt_3","type":"x","created":1}`)),
			want: wantEvent{id: "evt_3", typ: "stripe.x", provider: "stripe", contentType: "application/vnd.stripe+json", time: time.Unix(1, 0)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := src.Normalize(tt.req)
			checkEvent(t, tt.req, res, err, tt.want)
		})
	}
}

func TestStripeNormalizeErrors(t *testing.T) {
	src, err := NewStripe(StripeConfig{Secrets: []string{stripeSecret}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, ct, body string
		status         int
		code           string
	}{
		{"not JSON", "application/json", `id=evt_1`, 400, CodeMalformedJSON},
		{"truncated", "application/json", `{"id":"evt_1"`, 400, CodeMalformedJSON},
		{"trailing data", "application/json", `{"id":"evt_1","type":"x"} {}`, 400, CodeMalformedJSON},
		{"array", "application/json", `[1,2]`, 400, CodeInvalidPayload},
		{"no id", "application/json", `{"type":"charge.succeeded"}`, 400, CodeInvalidPayload},
		{"numeric id", "application/json", `{"id":1,"type":"charge.succeeded"}`, 400, CodeInvalidPayload},
		{"no type", "application/json", `{"id":"evt_1"}`, 400, CodeInvalidPayload},
		{"number out of range", "application/json", `{"id":"evt_1","type":"x","n":1e999}`, 400, CodeInvalidPayload},
		{"form body", "application/x-www-form-urlencoded", `id=evt_1`, http.StatusUnsupportedMediaType, CodeUnsupportedMediaType},
		{"text/plain", "text/plain", `{}`, http.StatusUnsupportedMediaType, CodeUnsupportedMediaType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := src.Normalize(newReq("stripe", tt.ct, []byte(tt.body)))
			wantError(t, err, tt.status, tt.code)
			if res.Event != nil || res.Reply != nil {
				t.Fatal("an error result carries an event or reply")
			}
		})
	}
}
