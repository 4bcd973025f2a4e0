package cli

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Source kinds `send` can sign for (the YAML `kind` values).
const (
	kindHasura   = "hasura"
	kindStripe   = "stripe"
	kindGitHub   = "github"
	kindShopify  = "shopify"
	kindSlack    = "slack"
	kindStandard = "standard_webhooks"
)

// demoSource is a source of the built-in demo config: its kind and secret variable.
type demoSource struct {
	kind      string
	secretEnv string
}

// demoSources mirrors gateway/internal/config/demo.yaml.
var demoSources = map[string]demoSource{
	"hasura":   {kindHasura, "HASURA_WEBHOOK_SECRET"},
	"stripe":   {kindStripe, "STRIPE_WEBHOOK_SECRET"},
	"github":   {kindGitHub, "GITHUB_WEBHOOK_SECRET"},
	"shopify":  {kindShopify, "SHOPIFY_WEBHOOK_SECRET"},
	"slack":    {kindSlack, "SLACK_SIGNING_SECRET"},
	"standard": {kindStandard, "STANDARD_WEBHOOK_SECRET"},
}

// kindSecretEnv is the demo variable of each kind, the default for a custom source.
var kindSecretEnv = map[string]string{
	kindHasura: "HASURA_WEBHOOK_SECRET", kindStripe: "STRIPE_WEBHOOK_SECRET",
	kindGitHub: "GITHUB_WEBHOOK_SECRET", kindShopify: "SHOPIFY_WEBHOOK_SECRET",
	kindSlack: "SLACK_SIGNING_SECRET", kindStandard: "STANDARD_WEBHOOK_SECRET",
}

// delivery is one webhook request to send: the body and the headers that identify it.
type delivery struct {
	body    []byte
	headers http.Header
}

// sign adds the kind's authentication headers for secret at time now.
func sign(kind string, d *delivery, secret string, now time.Time) error {
	h := d.headers
	ts := strconv.FormatInt(now.Unix(), 10)
	switch kind {
	case kindHasura:
		// Hasura signs nothing: the trigger sends the shared secret in a header.
		h.Set("X-Hasura-Webhook-Secret", secret)
	case kindStripe:
		// t=<unix>,v1=hex(HMAC-SHA256(secret as-is, "<t>.<body>")).
		h.Set("Stripe-Signature", "t="+ts+",v1="+hex.EncodeToString(mac([]byte(secret), []byte(ts+"."), d.body)))
	case kindGitHub:
		h.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac([]byte(secret), d.body)))
	case kindShopify:
		h.Set("X-Shopify-Hmac-Sha256", base64.StdEncoding.EncodeToString(mac([]byte(secret), d.body)))
	case kindSlack:
		h.Set("X-Slack-Request-Timestamp", ts)
		h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac([]byte(secret), []byte("v0:"+ts+":"), d.body)))
	case kindStandard:
		// The key is the base64 after an optional whsec_ prefix.
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
		if err != nil {
			return fmt.Errorf("standard webhooks secret is not whsec_<base64>: %w", err)
		}
		id := h.Get("webhook-id")
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac(key, []byte(id+"."+ts+"."), d.body)))
	default:
		return usagef("cannot sign for source kind %q (supported: hasura, stripe, github, shopify, slack, standard_webhooks)", kind)
	}
	return nil
}

func mac(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}
