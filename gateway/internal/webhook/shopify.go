package webhook

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// Shopify headers. HTTPS webhooks send the X- names; the newer Events delivery
// sends the same names without "X-", so both are read (X- first).
const (
	ShopifyHMACHeader        = "X-Shopify-Hmac-Sha256" // base64(HMAC-SHA256(secret, body))
	ShopifyTopicHeader       = "X-Shopify-Topic"
	ShopifyEventIDHeader     = "X-Shopify-Event-Id"
	ShopifyWebhookIDHeader   = "X-Shopify-Webhook-Id"
	ShopifyTriggeredAtHeader = "X-Shopify-Triggered-At"
	ShopifyShopDomainHeader  = "X-Shopify-Shop-Domain"
)

// shopifyHeader reads X-Shopify-<name>, else Shopify-<name>.
func shopifyHeader(req *Request, xname string) string {
	if v := header(req.Header, xname); v != "" {
		return v
	}
	return header(req.Header, strings.TrimPrefix(xname, "X-"))
}

// ShopifyConfig configures a `kind: shopify` source.
type ShopifyConfig struct {
	// Secrets are app client secrets (their UTF-8 bytes are the key). Any may match.
	Secrets []string
	// Now stamps events without X-Shopify-Triggered-At; nil means time.Now.
	Now func() time.Time
}

// Validate reports a configuration that cannot verify anything.
func (c ShopifyConfig) Validate() error {
	if _, err := rawKeys(c.Secrets); err != nil {
		return fmt.Errorf("shopify source: %w", err)
	}
	return nil
}

// Shopify verifies X-Shopify-Hmac-Sha256 and maps deliveries to shopify.<topic>
// ("orders/create" becomes shopify.orders.create) with X-Shopify-Event-Id (else
// X-Shopify-Webhook-Id) as id.
type Shopify struct {
	keys [][]byte
	now  func() time.Time
}

var _ Source = (*Shopify)(nil)

// NewShopify validates cfg and fills its defaults.
func NewShopify(cfg ShopifyConfig) (*Shopify, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	keys, _ := rawKeys(cfg.Secrets)
	return &Shopify{keys: keys, now: clock(cfg.Now)}, nil
}

// Verify compares the header with base64(HMAC-SHA256(secret, body)) as a string,
// as Shopify's library does: a hex digest is a mismatch, not a second encoding.
func (s *Shopify) Verify(req *Request, _ time.Time) error {
	v := shopifyHeader(req, ShopifyHMACHeader)
	if v == "" {
		return Unauthorized(CodeMissingHeader, "header "+ShopifyHMACHeader+" is missing")
	}
	want := make([][]byte, len(s.keys))
	for i, k := range s.keys {
		want[i] = base64Bytes(base64.StdEncoding, macSum(sha256.New, k, req.Body))
	}
	if !anyEqual([]string{v}, want) {
		return Unauthorized(CodeSignatureMismatch, ShopifyHMACHeader+" does not match a configured secret")
	}
	return nil
}

func base64Bytes(enc *base64.Encoding, sum []byte) []byte {
	out := make([]byte, enc.EncodedLen(len(sum)))
	enc.Encode(out, sum)
	return out
}

// AcceptsContentType lets the gateway answer 415 before reading the body; Normalize
// applies the same rule.
func (s *Shopify) AcceptsContentType(mediaType string) bool {
	return isJSONMedia(mediaType)
}

// Normalize maps a delivery: type from the topic, subject = the resource's
// admin_graphql_api_id (gid://shopify/Order/…), else <resource>/<id>, else the shop.
func (s *Shopify) Normalize(req *Request) (Result, error) {
	if !isJSONMedia(req.ContentType) {
		return Result{}, unsupportedMedia(req.ContentType, mediaJSON)
	}
	body, err := decodeJSON(req.Body)
	if err != nil {
		return Result{}, err
	}
	topic := shopifyHeader(req, ShopifyTopicHeader)
	if topic == "" {
		return Result{}, invalidPayload("header %s is missing", ShopifyTopicHeader)
	}
	webhookID := shopifyHeader(req, ShopifyWebhookIDHeader)
	id := shopifyHeader(req, ShopifyEventIDHeader)
	delivery := ""
	switch {
	case id != "" && webhookID != id:
		delivery = webhookID
	case id == "" && webhookID != "":
		id = webhookID
	case id == "":
		return Result{}, invalidPayload("headers %s and %s are both missing", ShopifyEventIDHeader, ShopifyWebhookIDHeader)
	}
	at := s.now().UTC()
	if v := shopifyHeader(req, ShopifyTriggeredAtHeader); v != "" {
		if t, perr := time.Parse(time.RFC3339Nano, v); perr == nil {
			at = t.UTC()
		}
	}
	shop := shopifyHeader(req, ShopifyShopDomainHeader)
	subject, ok := str(lookup(body, "admin_graphql_api_id"))
	if !ok {
		if rid, ok := scalar(lookup(body, "id")); ok {
			resource, _, _ := strings.Cut(topic, "/")
			subject = resource + "/" + rid
		} else {
			subject = shop
		}
	}
	keep := append([]string{ShopifyTopicHeader, ShopifyShopDomainHeader, "X-Shopify-API-Version",
		ShopifyWebhookIDHeader, ShopifyEventIDHeader, ShopifyTriggeredAtHeader, "X-Shopify-Sub-Topic",
		"Shopify-Topic", "Shopify-Shop-Domain", "Shopify-API-Version", "Shopify-Webhook-Id",
		"Shopify-Event-Id", "Shopify-Triggered-At"}, commonHeaders...)
	ev, err := providerEvent{
		provider:     KindShopify,
		providerType: topic,
		id:           id,
		typ:          "shopify." + strings.ReplaceAll(topic, "/", "."),
		subject:      subject,
		time:         at,
		deliveryID:   delivery,
		payload:      body,
		headers:      keepHeaders(req.Header, keep...),
	}.build(req)
	if err != nil {
		return Result{}, err
	}
	return Result{Event: ev}, nil
}
