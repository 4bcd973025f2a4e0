package fulfillmenttest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"testing"
	"time"
)

type vector struct {
	ID      string   `json:"id"`
	Secrets []string `json:"secrets"`
	Request struct {
		Headers []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"headers"`
		BodyBase64 string `json:"body_base64"`
	} `json:"request"`
	Now       int64 `json:"now"`
	Tolerance int64 `json:"tolerance_seconds"`
	Expected  struct {
		Valid  bool   `json:"valid"`
		Reason string `json:"reason"`
	} `json:"expected"`
}

// The test receiver's verifier must itself follow the rules: check it against the
// shared Standard Webhooks vectors.
func TestVerifyVectors(t *testing.T) {
	raw, err := os.ReadFile("../testdata/standard_webhooks_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []vector `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range file.Vectors {
		t.Run(v.ID, func(t *testing.T) {
			h := http.Header{}
			for _, hv := range v.Request.Headers {
				h.Add(hv.Name, hv.Value)
			}
			body, err := base64.StdEncoding.DecodeString(v.Request.BodyBase64)
			if err != nil {
				t.Fatal(err)
			}
			err = Verify(v.Secrets[0], h, body, time.Unix(v.Now, 0), time.Duration(v.Tolerance)*time.Second)
			if v.Expected.Valid {
				if err != nil {
					t.Fatalf("Verify = %v, want valid", err)
				}
				return
			}
			if err == nil || err.Error() != v.Expected.Reason {
				t.Fatalf("Verify = %v, want %s", err, v.Expected.Reason)
			}
		})
	}
	t.Run("future timestamp", func(t *testing.T) {
		h := http.Header{}
		h.Set("webhook-id", "msg_1")
		h.Set("webhook-timestamp", "1000")
		h.Set("webhook-signature", "v1,AAAA")
		if err := Verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", h, nil, time.Unix(600, 0), 300*time.Second); !errors.Is(err, ErrTimestampFuture) {
			t.Fatalf("Verify = %v, want %v", err, ErrTimestampFuture)
		}
	})
}
