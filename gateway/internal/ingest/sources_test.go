package ingest

import (
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"strconv"
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
