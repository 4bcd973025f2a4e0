package ingest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/gateway/internal/config"
	"github.com/hookmesh/hookmesh/gateway/internal/webhook"
)

// TestStandardWebhooksPublicKeyFromEnv: a whpk_ public key named in secrets_from_env
// verifies v1a signatures, next to an unset …_PREVIOUS variable.
func TestStandardWebhooksPublicKeyFromEnv(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PARTNER_PUBLIC_KEY": "whpk_" + base64.StdEncoding.EncodeToString(pub)}
	lookup := func(name string) (string, bool, error) { v, ok := env[name]; return v, ok, nil }
	src, err := NewSource(&config.Source{Name: "partner", Kind: webhook.KindStandardWebhooks,
		SecretsFromEnv: []string{"PARTNER_PUBLIC_KEY", "PARTNER_PUBLIC_KEY_PREVIOUS"}}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	body := []byte(`{"type":"invoice.paid","data":{"id":"in_1"}}`)
	sig := ed25519.Sign(priv, []byte("msg_1."+ts+"."+string(body)))
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", "v1a,"+base64.StdEncoding.EncodeToString(sig))
	req := &webhook.Request{Source: "partner", Header: h, Body: body, ContentType: "application/json"}
	if err := src.Verify(req, now); err != nil {
		t.Fatalf("v1a with the configured public key: %v", err)
	}
	body[2] = 'T'
	if err := src.Verify(req, now); err == nil {
		t.Fatal("modified body verified")
	}
}

// Issue 17: a Stripe source whose secret is not whsec_… (an API key pasted by
// mistake) starts, with a warning that does not show the secret.
func TestStripeSecretFormatWarning(t *testing.T) {
	f, err := config.Parse([]byte("sources:\n  - name: stripe\n    kind: stripe\n    secrets_from_env: [STRIPE_A, STRIPE_B]\n"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"STRIPE_A": "whsec_abc", "STRIPE_B": "sk_live_secretvalue"}
	routes, err := Routes(f, func(name string) (string, bool, error) { v, ok := env[name]; return v, ok, nil })
	if err != nil {
		t.Fatal(err)
	}
	w := routes[0].Warnings
	if len(w) != 1 || !strings.Contains(w[0], "secret 2 of 2") || !strings.Contains(w[0], "whsec_") || strings.Contains(w[0], "sk_live") {
		t.Fatalf("warnings %q", w)
	}
	var logs bytes.Buffer
	if _, err := New(Config{Routes: routes, Log: discardLog{}, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"level":"WARN"`) || !strings.Contains(logs.String(), "secret 2 of 2") || strings.Contains(logs.String(), "secretvalue") {
		t.Fatalf("log: %s", logs.String())
	}
}
