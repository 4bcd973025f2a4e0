package webhook

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// vectorFile mirrors shared/fixtures/signatures/vectors.json (copied to testdata).
type vectorFile struct {
	SchemaVersion int      `json:"schema_version"`
	ReasonCodes   []string `json:"reason_codes"`
	Vectors       []vector `json:"vectors"`
}

type vector struct {
	ID     string `json:"id"`
	Scheme string `json:"scheme"`
	Case   string `json:"case"`
	Config struct {
		HeaderName string `json:"header_name"`
	} `json:"config"`
	Secrets []string `json:"secrets"`
	Request struct {
		Method  string `json:"method"`
		Headers []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"headers"`
		Body       string `json:"body"`
		BodyBase64 string `json:"body_base64"`
	} `json:"request"`
	Now              *int64 `json:"now"`
	ToleranceSeconds *int64 `json:"tolerance_seconds"`
	Expected         struct {
		Valid  bool   `json:"valid"`
		Reason string `json:"reason"`
	} `json:"expected"`
	ReasonNote string `json:"reason_note"`
}

func loadVectors(t testing.TB) vectorFile {
	t.Helper()
	return loadVectorFile(t, "testdata/vectors.json")
}

// loadVectorFile reads a file in vectors.json's format (testdata/v1a_vectors.json
// is made by testdata/v1a/generate.sh).
func loadVectorFile(t testing.TB, path string) vectorFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	var f vectorFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("decode vectors: %v", err)
	}
	if f.SchemaVersion != 1 || len(f.Vectors) == 0 {
		t.Fatalf("unexpected vectors file: schema %d, %d vectors", f.SchemaVersion, len(f.Vectors))
	}
	return f
}

// request builds the Request as net/http would hand it over: header names
// canonicalised on Add, the exact body bytes, the media type without parameters.
func (v vector) request(t testing.TB, source string) *Request {
	t.Helper()
	body, err := base64.StdEncoding.DecodeString(v.Request.BodyBase64)
	if err != nil {
		t.Fatalf("%s: body_base64: %v", v.ID, err)
	}
	if string(body) != v.Request.Body {
		t.Fatalf("%s: body_base64 does not decode to body", v.ID)
	}
	h := http.Header{}
	for _, kv := range v.Request.Headers {
		h.Add(kv.Name, kv.Value)
	}
	ct := ""
	if raw := h.Get("Content-Type"); raw != "" {
		mt, _, err := mime.ParseMediaType(raw)
		if err != nil {
			t.Fatalf("%s: content type: %v", v.ID, err)
		}
		ct = mt
	}
	return &Request{Source: source, Header: h, Body: body, ContentType: ct}
}

func (v vector) now() time.Time {
	if v.Now == nil {
		return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Unix(*v.Now, 0)
}

func (v vector) tolerance() time.Duration {
	if v.ToleranceSeconds == nil {
		return 0
	}
	return time.Duration(*v.ToleranceSeconds) * time.Second
}

// acceptedReasons is expected.reason plus any reason code named in reason_note.
func (v vector) acceptedReasons(codes []string) []string {
	out := []string{v.Expected.Reason}
	for _, c := range codes {
		if c != v.Expected.Reason && strings.Contains(v.ReasonNote, c) {
			out = append(out, c)
		}
	}
	return out
}

// verifier is Verify of any scheme (Source, or SharedSecret which has no clock).
type verifier func(req *Request, now time.Time) error

func vectorVerifier(t *testing.T, v vector) verifier {
	t.Helper()
	var (
		src Source
		err error
	)
	switch v.Scheme {
	case "stripe":
		src, err = NewStripe(StripeConfig{Secrets: v.Secrets, Tolerance: v.tolerance()})
	case "github":
		src, err = NewGitHub(GitHubConfig{Secrets: v.Secrets})
	case "shopify":
		src, err = NewShopify(ShopifyConfig{Secrets: v.Secrets})
	case "slack":
		src, err = NewSlack(SlackConfig{Secrets: v.Secrets, Tolerance: v.tolerance()})
	case "standard_webhooks":
		src, err = NewStandardWebhooks(StandardWebhooksConfig{Secrets: v.Secrets, Tolerance: v.tolerance()})
	case "hasura_shared_secret_header":
		s := SharedSecret{Header: v.Config.HeaderName, Secrets: v.Secrets}
		return func(req *Request, _ time.Time) error { return s.Verify(req) }
	default:
		t.Fatalf("%s: unknown scheme %q", v.ID, v.Scheme)
	}
	if err != nil {
		t.Fatalf("%s: construct %s: %v", v.ID, v.Scheme, err)
	}
	return src.Verify
}

// TestVectors runs every vector through its scheme's Verify: the outcome must match
// expected.valid exactly and the error code expected.reason (or reason_note's).
func TestVectors(t *testing.T) {
	f := loadVectors(t)
	seen := map[string]int{}
	for _, v := range f.Vectors {
		seen[v.Scheme]++
		t.Run(v.ID, func(t *testing.T) {
			err := vectorVerifier(t, v)(v.request(t, v.Scheme), v.now())
			checkVectorResult(t, v, f.ReasonCodes, err)
		})
	}
	for _, scheme := range []string{"stripe", "github", "shopify", "slack", "standard_webhooks", "hasura_shared_secret_header"} {
		if seen[scheme] == 0 {
			t.Errorf("no vector for scheme %s", scheme)
		}
	}
}

func checkVectorResult(t *testing.T, v vector, codes []string, err error) {
	t.Helper()
	if v.Expected.Valid {
		if err != nil {
			t.Fatalf("want valid, got %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("want invalid (%s), got valid", v.Expected.Reason)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *webhook.Error", err, err)
	}
	if e.Status != http.StatusUnauthorized {
		t.Errorf("status %d, want 401", e.Status)
	}
	if ok := slices.Contains(v.acceptedReasons(codes), e.Code); !ok {
		t.Errorf("code %q, want one of %q (%s)", e.Code, v.acceptedReasons(codes), e.Message)
	}
}

// TestVectorsThroughGenericHMAC configures the generic hmac kind as each provider
// whose scheme it can express and replays that provider's vectors: the outcome must
// be the same, which shows a provider without a preset can be set up in YAML.
func TestVectorsThroughGenericHMAC(t *testing.T) {
	f := loadVectors(t)
	presets := map[string]HMACConfig{
		"github":  {Header: "X-Hub-Signature-256", Prefix: "sha256=", Algorithm: "sha256", Encoding: "hex"},
		"shopify": {Header: "X-Shopify-Hmac-Sha256", Encoding: "base64"},
		"slack": {Header: "X-Slack-Signature", Prefix: "v0=", TimestampHeader: "X-Slack-Request-Timestamp",
			SignedContent: "v0:{timestamp}:{body}"},
	}
	ran := 0
	for _, v := range f.Vectors {
		cfg, ok := presets[v.Scheme]
		if !ok {
			continue
		}
		ran++
		t.Run(v.ID, func(t *testing.T) {
			cfg.Secrets = v.Secrets
			cfg.Tolerance = v.tolerance()
			src, err := NewHMAC(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = src.Verify(v.request(t, "custom"), v.now())
			if (err == nil) != v.Expected.Valid {
				t.Fatalf("valid = %v, want %v (err %v)", err == nil, v.Expected.Valid, err)
			}
			var e *Error
			if err != nil && (!errors.As(err, &e) || e.Status != http.StatusUnauthorized) {
				t.Fatalf("error %v is not a 401 *webhook.Error", err)
			}
		})
	}
	if ran == 0 {
		t.Fatal("no vector ran")
	}
}
