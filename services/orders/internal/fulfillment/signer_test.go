package fulfillment

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The signer reproduces the signatures of the shared valid Standard Webhooks vectors.
func TestSignerMatchesVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/standard_webhooks_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []struct {
			ID      string   `json:"id"`
			Secrets []string `json:"secrets"`
			Request struct {
				Headers    []struct{ Name, Value string } `json:"headers"`
				BodyBase64 string                         `json:"body_base64"`
			} `json:"request"`
			Expected struct {
				Valid bool `json:"valid"`
			} `json:"expected"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range file.Vectors {
		if !v.Expected.Valid {
			continue
		}
		n++
		t.Run(v.ID, func(t *testing.T) {
			h := map[string]string{}
			for _, hv := range v.Request.Headers {
				h[strings.ToLower(hv.Name)] = hv.Value
			}
			body, err := base64.StdEncoding.DecodeString(v.Request.BodyBase64)
			if err != nil {
				t.Fatal(err)
			}
			sec, err := strconv.ParseInt(h["webhook-timestamp"], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			s, err := NewSigner(v.Secrets[0])
			if err != nil {
				t.Fatal(err)
			}
			ts, sig := s.Headers(h["webhook-id"], time.Unix(sec, 0), body)
			if ts != h["webhook-timestamp"] {
				t.Errorf("timestamp = %s, want %s", ts, h["webhook-timestamp"])
			}
			if !strings.Contains(" "+h["webhook-signature"]+" ", " "+sig+" ") {
				t.Errorf("signature %s is not among %s", sig, h["webhook-signature"])
			}
		})
	}
	if n < 3 {
		t.Fatalf("only %d valid vectors", n)
	}
}

func TestNewSignerRejects(t *testing.T) {
	for name, secret := range map[string]string{
		"empty":       "",
		"prefix only": "whsec_",
		"not base64":  "whsec_not*base64!",
		"too short":   "whsec_" + base64.StdEncoding.EncodeToString([]byte("short")),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewSigner(secret)
			if err == nil {
				t.Fatal("NewSigner accepted it")
			}
			if raw := strings.TrimPrefix(secret, "whsec_"); raw != "" && strings.Contains(err.Error(), raw) {
				t.Fatalf("error %q repeats the secret", err)
			}
		})
	}
}
