// Package fulfillmenttest is a fulfillment endpoint for tests: a real HTTP server
// that verifies Standard Webhooks signatures independently of the sender's code
// and records what it accepted.
package fulfillmenttest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Reason codes of Verify, as in shared/fixtures/signatures.
var (
	ErrMissingHeader     = errors.New("missing_header")
	ErrMalformedHeader   = errors.New("malformed_header")
	ErrUnsupportedScheme = errors.New("unsupported_scheme")
	ErrTimestampExpired  = errors.New("timestamp_expired")
	ErrTimestampFuture   = errors.New("timestamp_in_future")
	ErrSignatureMismatch = errors.New("signature_mismatch")
)

// Verify checks a Standard Webhooks request: headers present → timestamp parses →
// a v1 signature is present → timestamp within ±tolerance of now → one v1
// signature matches HMAC-SHA256(base64-decoded secret, id.ts.body).
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeader
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrMalformedHeader
	}
	var v1 [][]byte
	for _, part := range strings.Fields(sigs) {
		ver, sig, ok := strings.Cut(part, ",")
		if !ok {
			continue
		}
		if ver != "v1" {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			continue
		}
		v1 = append(v1, b)
	}
	if len(v1) == 0 {
		return ErrUnsupportedScheme
	}
	at := time.Unix(sec, 0)
	if now.Sub(at) > tolerance {
		return ErrTimestampExpired
	}
	if at.Sub(now) > tolerance {
		return ErrTimestampFuture
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return ErrSignatureMismatch
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, sig := range v1 {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return ErrSignatureMismatch
}

// Delivery is one request the receiver accepted.
type Delivery struct {
	ID   string
	Body []byte
	// Traceparent is the W3C trace context header the sender propagated.
	Traceparent string
}

// Receiver is a fulfillment endpoint on loopback.
type Receiver struct {
	URL    string
	secret string

	mu        sync.Mutex
	fail      int // answer 503 to this many more verified requests
	status    int // when non-zero, answer this to every request
	accepted  []Delivery
	rejected  []error
	attempted int
}

// NewReceiver starts a receiver that verifies with secret; it stops at cleanup.
func NewReceiver(tb testing.TB, secret string) *Receiver {
	tb.Helper()
	r := &Receiver{secret: secret}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	tb.Cleanup(srv.Close)
	r.URL = srv.URL + "/fulfillment"
	return r
}

// FailNext makes the next n verified requests fail with 503.
func (r *Receiver) FailNext(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = n
}

// AlwaysAnswer makes every request fail with status (0 restores normal answers).
func (r *Receiver) AlwaysAnswer(status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = status
}

// Accepted returns the verified requests answered 2xx, in order.
func (r *Receiver) Accepted() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.accepted...)
}

// Rejected returns the verification errors of requests that failed verification.
func (r *Receiver) Rejected() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.rejected...)
}

// Attempts counts every request received.
func (r *Receiver) Attempts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempted
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempted++
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
		r.rejected = append(r.rejected, errors.New("not a JSON POST"))
		http.Error(w, "want a JSON POST", http.StatusBadRequest)
		return
	}
	if err := Verify(r.secret, req.Header, body, time.Now(), 5*time.Minute); err != nil {
		r.rejected = append(r.rejected, err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if r.status != 0 {
		http.Error(w, "configured failure", r.status)
		return
	}
	if r.fail > 0 {
		r.fail--
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	r.accepted = append(r.accepted, Delivery{ID: req.Header.Get("webhook-id"), Body: body, Traceparent: req.Header.Get("traceparent")})
	w.WriteHeader(http.StatusNoContent)
}
