package webhook

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// Fuzz targets for every header parser. Seeds live in testdata/fuzz/<Target>/ and
// run as ordinary tests; `go test -fuzz=FuzzStripeSignature ./internal/webhook/`
// explores further. Each target checks that nothing panics, that every failure is
// a 401 with an authentication code, and a round-trip property where there is one.

var authCodes = []string{CodeMissingHeader, CodeMalformedHeader, CodeUnsupportedScheme,
	CodeTimestampExpired, CodeTimestampInFuture, CodeSignatureMismatch}

func checkAuthError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusUnauthorized || !slices.Contains(authCodes, e.Code) {
		t.Fatalf("error %v is not a 401 with an authentication code", err)
	}
}

func FuzzStripeSignature(f *testing.F) {
	src, err := NewStripe(StripeConfig{Secrets: []string{stripeSecret}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, headerValue string, body []byte) {
		sig, perr := parseStripeSignature(headerValue)
		checkAuthError(t, perr)
		if perr == nil && (sig.timestamp < 0 || len(sig.v1) == 0) {
			t.Fatalf("parsed %+v from %q", sig, headerValue)
		}
		checkAuthError(t, src.Verify(newReq("stripe", "", body, "Stripe-Signature", headerValue), testNow))
		// Whatever else the header holds, appending a correct v1 for a fresh t makes
		// it valid when the header has no t of its own.
		if !strings.Contains(headerValue, "t=") {
			good := signStripe(stripeSecret, testNow.Unix(), body)
			if err := src.Verify(newReq("stripe", "", body, "Stripe-Signature", headerValue+","+good), testNow); err != nil {
				t.Fatalf("valid signature after %q rejected: %v", headerValue, err)
			}
		}
	})
}

func FuzzStandardWebhookSignature(f *testing.F) {
	// Both kinds of key, so v1 and v1a entries are both parsed and checked.
	pub := "whpk_" + base64.StdEncoding.EncodeToString(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey))
	src, err := NewStandardWebhooks(StandardWebhooksConfig{Secrets: []string{standardSecret, pub}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, ts, signatures string, body []byte) {
		sigs, perr := src.parseStandardSignatures(signatures)
		checkAuthError(t, perr)
		if perr == nil && len(sigs.v1)+len(sigs.v1a) == 0 {
			t.Fatalf("no v1 or v1a but no error for %q", signatures)
		}
		req := newReq("standard", "", body, "webhook-id", id, "webhook-timestamp", ts, "webhook-signature", signatures)
		checkAuthError(t, src.Verify(req, testNow))
		// A correct v1 added to any list of entries verifies, for any id without
		// whitespace (header values are trimmed).
		id = strings.TrimSpace(id)
		if id != "" && !strings.ContainsAny(id, "\r\n") {
			good := signStandard(standardSecret, id, testNow.Unix(), body)
			req := newReq("standard", "", body, "webhook-id", id, "webhook-timestamp", itoa(testNow.Unix()),
				"webhook-signature", signatures+" "+good)
			if err := src.Verify(req, testNow); err != nil {
				t.Fatalf("valid signature after %q rejected: %v", signatures, err)
			}
		}
	})
}

func FuzzGitHubSignature(f *testing.F) {
	src, err := NewGitHub(GitHubConfig{Secrets: []string{githubSecret}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, headerValue string, body []byte) {
		err := src.Verify(newReq("github", "", body, "X-Hub-Signature-256", headerValue), testNow)
		checkAuthError(t, err)
		if err == nil && strings.TrimSpace(headerValue) != signGitHub(githubSecret, body) {
			t.Fatalf("accepted %q, which is not the signature", headerValue)
		}
		if err := src.Verify(newReq("github", "", body, "X-Hub-Signature-256", signGitHub(githubSecret, body)), testNow); err != nil {
			t.Fatalf("correct signature rejected: %v", err)
		}
	})
}

func FuzzSlackSignature(f *testing.F) {
	src, err := NewSlack(SlackConfig{Secrets: []string{slackSecret}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, ts, sig string, body []byte) {
		parsed, perr := parseSlackHeaders(ts, sig)
		checkAuthError(t, perr)
		if perr == nil && parsed.rawTimestamp != ts {
			t.Fatalf("timestamp %q parsed as %q", ts, parsed.rawTimestamp)
		}
		checkAuthError(t, src.Verify(newReq("slack", "", body, "X-Slack-Request-Timestamp", ts, "X-Slack-Signature", sig), testNow))
		// Any timestamp within the window verifies when signed correctly.
		if n, ok := parseUnix(strings.TrimSpace(ts)); ok {
			delta := n % 601
			at := testNow.Unix() - 300 + delta
			good := newReq("slack", "", body, "X-Slack-Request-Timestamp", itoa(at), "X-Slack-Signature", signSlack(at, body))
			if err := src.Verify(good, testNow); err != nil {
				t.Fatalf("correct signature at %d rejected: %v", at, err)
			}
		}
	})
}

func FuzzHMACHeader(f *testing.F) {
	encodings := []string{"hex", "base64", "base64url"}
	f.Fuzz(func(t *testing.T, value, prefix string, encoding uint8, body []byte) {
		enc := encodings[int(encoding)%len(encodings)]
		cfg := HMACConfig{Secrets: []string{hmacSecret}, Header: "X-Sig", Prefix: prefix, Encoding: enc}
		s, err := cfg.settings()
		if err != nil {
			t.Fatal(err)
		}
		sum, perr := parseHMACHeader(value, prefix, s.decode, s.size)
		checkAuthError(t, perr)
		if perr == nil && len(sum) != s.size {
			t.Fatalf("digest of %d bytes accepted", len(sum))
		}
		src := &HMAC{s: s}
		checkAuthError(t, src.Verify(newReq("p", "", body, "X-Sig", value), testNow))
		// The correct digest behind the prefix verifies (prefixes that header
		// trimming would alter are skipped).
		if strings.TrimSpace(prefix) == prefix && !strings.ContainsAny(prefix, "\r\n\x00") {
			mac := macWith(s.newHash, string(body))
			var digest string
			switch enc {
			case "hex":
				digest = strings.ToUpper(hexString(mac))
			case "base64":
				digest = base64.StdEncoding.EncodeToString(mac)
			case "base64url":
				digest = base64.RawURLEncoding.EncodeToString(mac)
			}
			if err := src.Verify(newReq("p", "", body, "X-Sig", prefix+digest), testNow); err != nil {
				t.Fatalf("correct %s digest with prefix %q rejected: %v", enc, prefix, err)
			}
		}
	})
}

func FuzzParseExtractor(f *testing.F) {
	body := map[string]any{"a": map[string]any{"b": []any{"x"}}}
	f.Fuzz(func(t *testing.T, spec string) {
		e, err := ParseExtractor(spec)
		if err != nil {
			return
		}
		if e.String() != spec {
			t.Fatalf("String() = %q, want %q", e.String(), spec)
		}
		e.Extract(http.Header{"X-A": {"1"}}, body)
	})
}

func FuzzSignedContentTemplate(f *testing.F) {
	f.Fuzz(func(t *testing.T, tmpl string) {
		segs, err := parseTemplate(tmpl)
		if err != nil {
			return
		}
		bodies := 0
		for _, s := range segs {
			if s.kind == segBody {
				bodies++
			}
		}
		if bodies != 1 {
			t.Fatalf("template %q accepted with %d {body}", tmpl, bodies)
		}
	})
}

// The window is symmetric and inclusive for every offset and tolerance.
func FuzzCheckWindow(f *testing.F) {
	f.Fuzz(func(t *testing.T, offset int64, tolSeconds uint16) {
		tol := time.Duration(tolSeconds)*time.Second + time.Second
		offset %= 1 << 40
		err := checkWindow(testNow.Unix()+offset, testNow, tol)
		limit := int64(tol / time.Second)
		switch {
		case offset < -limit:
			wantCode(t, err, CodeTimestampExpired)
		case offset > limit:
			wantCode(t, err, CodeTimestampInFuture)
		case err != nil:
			t.Fatalf("offset %d within ±%d rejected: %v", offset, limit, err)
		}
	})
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("got %v, want %s", err, code)
	}
}
