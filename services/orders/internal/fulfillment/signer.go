// Package fulfillment sends the signed fulfillment webhook of every shipment from
// the store's outbox: Standard Webhooks signatures, retried with back-off until
// the receiver answers 2xx or the attempts run out.
package fulfillment

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Signer signs webhooks the Standard Webhooks way: HMAC-SHA256 over
// "<webhook-id>.<webhook-timestamp>.<body>" with the base64-decoded secret,
// sent as "v1,<base64>".
type Signer struct {
	key []byte
}

// NewSigner takes the secret as "whsec_<base64>" (the prefix is optional).
func NewSigner(secret string) (*Signer, error) {
	raw := strings.TrimPrefix(strings.TrimSpace(secret), "whsec_")
	if raw == "" {
		return nil, errors.New("webhook secret is empty")
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		// Never echo the secret or the decoder's position within it.
		return nil, errors.New("webhook secret is not whsec_<base64>")
	}
	if len(key) < 16 {
		return nil, errors.New("webhook secret is shorter than 16 bytes")
	}
	return &Signer{key: key}, nil
}

// Headers returns the webhook-id, webhook-timestamp and webhook-signature values.
func (s *Signer) Headers(id string, at time.Time, body []byte) (ts, signature string) {
	ts = strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return ts, "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
