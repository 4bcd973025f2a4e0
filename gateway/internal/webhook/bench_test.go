package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// benchBody is a Stripe-shaped JSON object of exactly n bytes.
func benchBody(n int) []byte {
	head := `{"id":"evt_bench","type":"payment_intent.succeeded","created":1767225600,"data":{"object":{"id":"pi_1","pad":"`
	tail := `"}}}`
	return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
}

type benchCase struct {
	name   string
	src    Source
	signed func(body []byte) *Request
}

func benchCases(b *testing.B) []benchCase {
	must := func(s Source, err error) Source {
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	ts := testNow.Unix()
	return []benchCase{
		{"stripe", must(NewStripe(StripeConfig{Secrets: []string{stripeSecret}})), func(body []byte) *Request {
			return newReq("stripe", "application/json", body, "Stripe-Signature", signStripe(stripeSecret, ts, body))
		}},
		{"github", must(NewGitHub(GitHubConfig{Secrets: []string{githubSecret}})), func(body []byte) *Request {
			return newReq("github", "application/json", body, "X-Hub-Signature-256", signGitHub(githubSecret, body))
		}},
		{"shopify", must(NewShopify(ShopifyConfig{Secrets: []string{shopifySecret}})), func(body []byte) *Request {
			return newReq("shopify", "application/json", body, "X-Shopify-Hmac-Sha256", signShopify(shopifySecret, body))
		}},
		{"slack", must(NewSlack(SlackConfig{Secrets: []string{slackSecret}})), func(body []byte) *Request {
			return newReq("slack", "application/json", body, "X-Slack-Request-Timestamp", itoa(ts), "X-Slack-Signature", signSlack(ts, body))
		}},
		{"standard_webhooks", must(NewStandardWebhooks(StandardWebhooksConfig{Secrets: []string{standardSecret}})), func(body []byte) *Request {
			return newReq("standard", "application/json", body, "webhook-id", "msg_1", "webhook-timestamp", itoa(ts),
				"webhook-signature", signStandard(standardSecret, "msg_1", ts, body))
		}},
		{"hmac", must(NewHMAC(HMACConfig{Secrets: []string{hmacSecret}, Header: "X-Signature", Prefix: "sha256=", TimestampHeader: "X-Timestamp"})), func(body []byte) *Request {
			return newReq("partner", "application/json", body, "X-Timestamp", itoa(ts),
				"X-Signature", "sha256="+hex.EncodeToString(hmacSHA256(hmacSecret, itoa(ts)+"."+string(body))))
		}},
		// Two configured secrets (rotation) where only the second matches: the cost of
		// checking every secret.
		{"stripe_2_secrets", must(NewStripe(StripeConfig{Secrets: []string{stripeOld, stripeSecret}})), func(body []byte) *Request {
			return newReq("stripe", "application/json", body, "Stripe-Signature", signStripe(stripeSecret, ts, body))
		}},
	}
}

var benchSizes = []struct {
	name string
	n    int
}{{"1KiB", 1 << 10}, {"64KiB", 64 << 10}}

// BenchmarkVerify: verification cost per request for each scheme, next to a bare
// HMAC-SHA256 over the same bytes in the same run (the floor any scheme pays).
func BenchmarkVerify(b *testing.B) {
	for _, size := range benchSizes {
		body := benchBody(size.n)
		b.Run(size.name+"/bare_hmac_sha256", func(b *testing.B) {
			key := []byte(stripeSecret)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				m := hmac.New(sha256.New, key)
				m.Write(body)
				_ = m.Sum(nil)
			}
		})
		for _, bc := range benchCases(b) {
			req := bc.signed(body)
			if err := bc.src.Verify(req, testNow); err != nil {
				b.Fatalf("%s: %v", bc.name, err)
			}
			b.Run(size.name+"/"+bc.name, func(b *testing.B) {
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					if err := bc.src.Verify(req, testNow); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkNormalize: decoding a verified body into the event (JSON parse, structpb).
func BenchmarkNormalize(b *testing.B) {
	src, err := NewStripe(StripeConfig{Secrets: []string{stripeSecret}})
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range benchSizes {
		req := newReq("stripe", "application/json", benchBody(size.n))
		b.Run(size.name+"/stripe", func(b *testing.B) {
			b.SetBytes(int64(len(req.Body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := src.Normalize(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
