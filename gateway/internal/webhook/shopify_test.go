package webhook

import (
	"testing"
	"time"
)

func TestShopifyNormalize(t *testing.T) {
	src, err := NewShopify(ShopifyConfig{Secrets: []string{"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"}, Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	vec := vectorByID(t, "shopify-valid-orders-create")
	const (
		eventID   = "98880550-7158-44d4-b7cd-2c97c8a091b5"
		webhookID = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
	)
	noGID := []byte(`{"id":820982911946154508,"email":"jon@example.com"}`)
	tests := []struct {
		name string
		req  *Request
		want wantEvent
	}{
		{
			name: "orders/create from the vectors: event id, webhook id as delivery",
			req:  vec.request(t, "shopify"),
			want: wantEvent{
				id: eventID, deliveryID: webhookID, typ: "shopify.orders.create", provider: "shopify",
				providerType: "orders/create", subject: "gid://shopify/Order/820982911946154508",
				time: time.Date(2026, 1, 1, 5, 0, 0, 123456789, time.UTC),
				headers: map[string]string{"x-shopify-topic": "orders/create", "x-shopify-shop-domain": "gateway-test.myshopify.com",
					"x-shopify-api-version": "2025-10", "x-shopify-webhook-id": webhookID, "x-shopify-event-id": eventID},
			},
		},
		{
			name: "no event id: the webhook id; no gid: <resource>/<exact id>",
			req: newReq("shopify", "application/json", noGID, "X-Shopify-Topic", "orders/paid",
				"X-Shopify-Webhook-Id", webhookID, "X-Shopify-Shop-Domain", "s.myshopify.com"),
			want: wantEvent{id: webhookID, typ: "shopify.orders.paid", provider: "shopify",
				subject: "orders/820982911946154508", time: testNow},
		},
		{
			name: "same event and webhook id: no separate delivery id",
			req: newReq("shopify", "application/json", []byte(`{"shop_id":1}`), "X-Shopify-Topic", "app/uninstalled",
				"X-Shopify-Webhook-Id", "w1", "X-Shopify-Event-Id", "w1", "X-Shopify-Shop-Domain", "s.myshopify.com"),
			want: wantEvent{id: "w1", typ: "shopify.app.uninstalled", provider: "shopify", subject: "s.myshopify.com"},
		},
		{
			name: "Events delivery headers without X-",
			req: newReq("shopify", "application/json", noGID, "Shopify-Topic", "customers/data_request",
				"Shopify-Event-Id", "e2", "Shopify-Webhook-Id", "w2", "Shopify-Triggered-At", "2026-01-02T00:00:00Z"),
			want: wantEvent{id: "e2", deliveryID: "w2", typ: "shopify.customers.data_request", provider: "shopify",
				subject: "customers/820982911946154508", time: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)},
		},
		{
			name: "unparseable triggered-at: the clock",
			req: newReq("shopify", "application/json", []byte(`[]`), "X-Shopify-Topic", "bulk_operations/finish",
				"X-Shopify-Webhook-Id", "w3", "X-Shopify-Triggered-At", "yesterday"),
			want: wantEvent{id: "w3", typ: "shopify.bulk_operations.finish", provider: "shopify", time: testNow},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := src.Normalize(tt.req)
			checkEvent(t, tt.req, res, err, tt.want)
		})
	}
}

func TestShopifyNormalizeErrors(t *testing.T) {
	src, err := NewShopify(ShopifyConfig{Secrets: []string{shopifySecret}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, ct, body string
		headers        []string
		status         int
		code           string
	}{
		{"no topic", "application/json", `{}`, []string{"X-Shopify-Webhook-Id", "w"}, 400, CodeInvalidPayload},
		{"no ids", "application/json", `{}`, []string{"X-Shopify-Topic", "orders/create"}, 400, CodeInvalidPayload},
		{"not JSON", "application/json", `<xml/>`, []string{"X-Shopify-Topic", "orders/create", "X-Shopify-Webhook-Id", "w"}, 400, CodeMalformedJSON},
		{"form", "application/x-www-form-urlencoded", `a=b`, []string{"X-Shopify-Topic", "orders/create", "X-Shopify-Webhook-Id", "w"}, 415, CodeUnsupportedMediaType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := src.Normalize(newReq("shopify", tt.ct, []byte(tt.body), tt.headers...))
			wantError(t, err, tt.status, tt.code)
		})
	}
}
