package webhook

import "time"

// Source kinds accepted in the YAML `kind` key. Hasura's Source lives in
// gateway/internal/hasura; every other kind is constructed in this package
// (NewStripe, NewGitHub, NewShopify, NewSlack, NewStandardWebhooks, NewHMAC).
const (
	KindHasura           = "hasura"
	KindStripe           = "stripe"
	KindGitHub           = "github"
	KindShopify          = "shopify"
	KindSlack            = "slack"
	KindStandardWebhooks = "standard_webhooks"
	KindHMAC             = "hmac"
)

// Kinds lists every source kind, in the order DESIGN.md names them.
var Kinds = []string{KindHasura, KindStripe, KindGitHub, KindShopify, KindSlack, KindStandardWebhooks, KindHMAC}

// DefaultTolerance is the timestamp window of the timestamped schemes (Stripe, Slack,
// Standard Webhooks, hmac with a timestamp header), applied in both directions.
const DefaultTolerance = 5 * time.Minute
