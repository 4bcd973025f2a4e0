package webhook

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

const (
	stripeSecret   = "whsec_test_current"
	stripeOld      = "whsec_test_previous"
	githubSecret   = "gh-secret-current"
	shopifySecret  = "shpss_current"
	slackSecret    = "slack-signing-current"
	standardSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	standardOld    = "whsec_4RqCcTmtgNTSotjMAWimqWGJojgxowfmHMBefjRo72w="
)

var body = []byte(`{"id":"evt_1","type":"charge.succeeded","created":1767225500,"data":{"object":{"id":"ch_1"}}}`)

type verifyCase struct {
	name string
	req  *Request
	now  time.Time
	code string // "" = valid
}

func runVerifyCases(t *testing.T, src Source, cases []verifyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = testNow
			}
			err := src.Verify(tc.req, now)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			wantError(t, err, http.StatusUnauthorized, tc.code)
		})
	}
}

func TestStripeVerify(t *testing.T) {
	src, err := NewStripe(StripeConfig{Secrets: []string{stripeSecret, "", stripeOld}})
	if err != nil {
		t.Fatal(err)
	}
	ts := testNow.Unix()
	good := signStripe(stripeSecret, ts, body)
	old := signStripe(stripeOld, ts, body)
	oldV1 := strings.TrimPrefix(old, "t="+itoa(ts)+",")
	req := func(sig string) *Request { return newReq("stripe", "application/json", body, "Stripe-Signature", sig) }
	runVerifyCases(t, src, []verifyCase{
		{"current secret", req(good), time.Time{}, ""},
		{"previous secret (rotation)", req(old), time.Time{}, ""},
		{"two v1, second matches", req(good[:len("t=")+10] + ",v1=00" + strings.Repeat("ab", 31) + "," + oldV1), time.Time{}, ""},
		{"spaces around items", req(strings.ReplaceAll(good, ",", " , ")), time.Time{}, ""},
		{"unknown keys and items without = ignored", req(good + ",v9=zz,junk,scheme=x"), time.Time{}, ""},
		{"future within tolerance", req(signStripe(stripeSecret, ts+300, body)), time.Time{}, ""},
		{"future beyond tolerance", req(signStripe(stripeSecret, ts+301, body)), time.Time{}, CodeTimestampInFuture},
		{"expired beats wrong signature", req("t=" + itoa(ts-1000) + ",v1=00"), time.Time{}, CodeTimestampExpired},
		{"upper-case hex is not Stripe's encoding", req("t=" + itoa(ts) + ",v1=" + strings.ToUpper(strings.Split(good, "v1=")[1])), time.Time{}, CodeSignatureMismatch},
		{"empty v1", req("t=" + itoa(ts) + ",v1="), time.Time{}, CodeSignatureMismatch},
		{"duplicate t", req(good + ",t=" + itoa(ts)), time.Time{}, CodeMalformedHeader},
		{"negative t", req("t=-5,v1=00"), time.Time{}, CodeMalformedHeader},
		{"signed t", req("t=+" + itoa(ts) + ",v1=00"), time.Time{}, CodeMalformedHeader},
		{"huge t", req("t=99999999999999999999,v1=00"), time.Time{}, CodeMalformedHeader},
		{"only t", req("t=" + itoa(ts)), time.Time{}, CodeUnsupportedScheme},
		{"whitespace only", req("   "), time.Time{}, CodeMissingHeader},
		{"lower-case header name", newReq("stripe", "", body, "stripe-signature", good), time.Time{}, ""},
	})
}

func TestGitHubVerify(t *testing.T) {
	src, err := NewGitHub(GitHubConfig{Secrets: []string{githubSecret, "gh-secret-previous"}})
	if err != nil {
		t.Fatal(err)
	}
	req := func(sig string) *Request {
		return newReq("github", "application/json", body, "X-Hub-Signature-256", sig)
	}
	runVerifyCases(t, src, []verifyCase{
		{"current", req(signGitHub(githubSecret, body)), time.Time{}, ""},
		{"previous", req(signGitHub("gh-secret-previous", body)), time.Time{}, ""},
		{"sha1 scheme in the sha256 header", req("sha1=" + strings.TrimPrefix(signGitHub(githubSecret, body), "sha256=")), time.Time{}, CodeUnsupportedScheme},
		{"empty scheme", req("=abc"), time.Time{}, CodeMalformedHeader},
		{"empty digest", req("sha256="), time.Time{}, CodeSignatureMismatch},
		{"only legacy sha1 header", newReq("github", "", body, "X-Hub-Signature", "sha1=00"), time.Time{}, CodeMissingHeader},
		{"body changed", newReq("github", "", append(body, ' '), "X-Hub-Signature-256", signGitHub(githubSecret, body)), time.Time{}, CodeSignatureMismatch},
	})
}

func TestShopifyVerify(t *testing.T) {
	src, err := NewShopify(ShopifyConfig{Secrets: []string{"", shopifySecret}})
	if err != nil {
		t.Fatal(err)
	}
	runVerifyCases(t, src, []verifyCase{
		{"X- header", newReq("shopify", "", body, "X-Shopify-Hmac-Sha256", signShopify(shopifySecret, body)), time.Time{}, ""},
		{"Events header without X-", newReq("shopify", "", body, "Shopify-Hmac-Sha256", signShopify(shopifySecret, body)), time.Time{}, ""},
		{"unpadded base64 is not Shopify's encoding", newReq("shopify", "", body, "X-Shopify-Hmac-Sha256", strings.TrimRight(signShopify(shopifySecret, body), "=")), time.Time{}, CodeSignatureMismatch},
		{"wrong secret", newReq("shopify", "", body, "X-Shopify-Hmac-Sha256", signShopify("other", body)), time.Time{}, CodeSignatureMismatch},
	})
}

func TestSlackVerify(t *testing.T) {
	src, err := NewSlack(SlackConfig{Secrets: []string{slackSecret}, Tolerance: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ts := testNow.Unix()
	req := func(ts int64, sig string) *Request {
		return newReq("slack", "", body, "X-Slack-Request-Timestamp", itoa(ts), "X-Slack-Signature", sig)
	}
	v0 := signSlack(ts, body)
	runVerifyCases(t, src, []verifyCase{
		{"valid", req(ts, v0), time.Time{}, ""},
		{"configured tolerance, 60s old", req(ts, v0), testNow.Add(time.Minute), ""},
		{"configured tolerance, 61s old", req(ts, v0), testNow.Add(61 * time.Second), CodeTimestampExpired},
		{"61s in the future", req(ts+61, signSlack(ts+61, body)), time.Time{}, CodeTimestampInFuture},
		{"v1 scheme", req(ts, "v1="+strings.TrimPrefix(v0, "v0=")), time.Time{}, CodeUnsupportedScheme},
		{"no scheme", req(ts, strings.TrimPrefix(v0, "v0=")), time.Time{}, CodeMalformedHeader},
		{"fractional timestamp", newReq("slack", "", body, "X-Slack-Request-Timestamp", itoa(ts)+".5", "X-Slack-Signature", v0), time.Time{}, CodeMalformedHeader},
	})
}

func TestStandardWebhooksVerify(t *testing.T) {
	src, err := NewStandardWebhooks(StandardWebhooksConfig{Secrets: []string{standardSecret, standardOld}})
	if err != nil {
		t.Fatal(err)
	}
	ts := testNow.Unix()
	id := "msg_1"
	req := func(ts int64, sig string) *Request {
		return newReq("standard", "application/json", body, "webhook-id", id, "webhook-timestamp", itoa(ts), "webhook-signature", sig)
	}
	good := signStandard(standardSecret, id, ts, body)
	runVerifyCases(t, src, []verifyCase{
		{"valid", req(ts, good), time.Time{}, ""},
		{"second configured secret", req(ts, signStandard(standardOld, id, ts, body)), time.Time{}, ""},
		{"v1a and v2 ignored next to a good v1", req(ts, "v1a,AAAA v2,BBBB "+good), time.Time{}, ""},
		{"exactly 300s in the future", req(ts+300, signStandard(standardSecret, id, ts+300, body)), time.Time{}, ""},
		{"301s in the future", req(ts+301, signStandard(standardSecret, id, ts+301, body)), time.Time{}, CodeTimestampInFuture},
		{"only v2", req(ts, "v2,"+strings.TrimPrefix(good, "v1,")), time.Time{}, CodeUnsupportedScheme},
		{"only v1a (asymmetric)", req(ts, "v1a,"+strings.TrimPrefix(good, "v1,")), time.Time{}, CodeUnsupportedScheme},
		{"no version", req(ts, strings.TrimPrefix(good, "v1,")), time.Time{}, CodeMalformedHeader},
		{"missing timestamp", newReq("standard", "", body, "webhook-id", id, "webhook-signature", good), time.Time{}, CodeMissingHeader},
		{"svix headers", newReq("standard", "", body, "svix-id", id, "svix-timestamp", itoa(ts), "svix-signature", good), time.Time{}, ""},
		{"svix headers, wrong id", newReq("standard", "", body, "svix-id", "msg_2", "svix-timestamp", itoa(ts), "svix-signature", good), time.Time{}, CodeSignatureMismatch},
	})
}

func TestConstructorsValidate(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string // substring; "" = no error
	}{
		{"stripe ok", errOf(NewStripe(StripeConfig{Secrets: []string{"s"}})), ""},
		{"stripe no secret", errOf(NewStripe(StripeConfig{})), "no secret"},
		{"stripe only empty secrets", errOf(NewStripe(StripeConfig{Secrets: []string{"", ""}})), "no secret"},
		{"stripe negative tolerance", errOf(NewStripe(StripeConfig{Secrets: []string{"s"}, Tolerance: -time.Second})), "tolerance"},
		{"stripe sub-second tolerance", errOf(NewStripe(StripeConfig{Secrets: []string{"s"}, Tolerance: time.Millisecond})), "tolerance"},
		{"github no secret", errOf(NewGitHub(GitHubConfig{})), "no secret"},
		{"shopify no secret", errOf(NewShopify(ShopifyConfig{})), "no secret"},
		{"slack no secret", errOf(NewSlack(SlackConfig{})), "no secret"},
		{"slack bad tolerance", errOf(NewSlack(SlackConfig{Secrets: []string{"s"}, Tolerance: -1})), "tolerance"},
		{"standard no secret", errOf(NewStandardWebhooks(StandardWebhooksConfig{})), "no secret"},
		{"standard secret not base64", errOf(NewStandardWebhooks(StandardWebhooksConfig{Secrets: []string{"whsec_not*base64"}})), "secret 1 is not base64"},
		{"standard bad tolerance", errOf(NewStandardWebhooks(StandardWebhooksConfig{Secrets: []string{standardSecret}, Tolerance: -1})), "tolerance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			switch {
			case tt.want == "" && tt.err != nil:
				t.Fatalf("unexpected error %v", tt.err)
			case tt.want != "" && (tt.err == nil || !strings.Contains(tt.err.Error(), tt.want)):
				t.Fatalf("error %v, want one containing %q", tt.err, tt.want)
			case tt.err != nil && strings.Contains(tt.err.Error(), "not*base64"):
				t.Fatal("error message leaks the secret")
			}
		})
	}
}

func TestDefaultToleranceIsFiveMinutes(t *testing.T) {
	src, err := NewSlack(SlackConfig{Secrets: []string{slackSecret}})
	if err != nil {
		t.Fatal(err)
	}
	ts := testNow.Unix()
	r := newReq("slack", "", body, "X-Slack-Request-Timestamp", itoa(ts), "X-Slack-Signature", signSlack(ts, body))
	if err := src.Verify(r, testNow.Add(300*time.Second)); err != nil {
		t.Fatalf("300s old: %v", err)
	}
	wantError(t, src.Verify(r, testNow.Add(301*time.Second)), http.StatusUnauthorized, CodeTimestampExpired)
}

func TestKinds(t *testing.T) {
	want := []string{"hasura", "stripe", "github", "shopify", "slack", "standard_webhooks", "hmac"}
	if strings.Join(Kinds, ",") != strings.Join(want, ",") {
		t.Fatalf("Kinds = %v, want %v", Kinds, want)
	}
}

func errOf[T any](_ T, err error) error { return err }

func TestAcceptsContentType(t *testing.T) {
	type checker interface{ AcceptsContentType(string) bool }
	must := func(s Source, err error) checker {
		if err != nil {
			t.Fatal(err)
		}
		return s.(checker)
	}
	sources := map[string]checker{
		"stripe":            must(NewStripe(StripeConfig{Secrets: []string{"s"}})),
		"shopify":           must(NewShopify(ShopifyConfig{Secrets: []string{"s"}})),
		"standard_webhooks": must(NewStandardWebhooks(StandardWebhooksConfig{Secrets: []string{standardSecret}})),
		"github":            must(NewGitHub(GitHubConfig{Secrets: []string{"s"}})),
		"slack":             must(NewSlack(SlackConfig{Secrets: []string{"s"}})),
		"hmac":              must(NewHMAC(HMACConfig{Secrets: []string{"s"}, Header: "X-Sig"})),
	}
	takesForm := map[string]bool{"github": true, "slack": true, "hmac": true}
	for name, src := range sources {
		t.Run(name, func(t *testing.T) {
			for ct, want := range map[string]bool{
				"": true, "application/json": true, "application/cloudevents+json": true,
				"application/x-www-form-urlencoded": takesForm[name], "text/plain": false, "multipart/form-data": false,
			} {
				if got := src.AcceptsContentType(ct); got != want {
					t.Errorf("AcceptsContentType(%q) = %v, want %v", ct, got, want)
				}
			}
		})
	}
}
