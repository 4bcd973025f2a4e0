package webhook

import (
	"crypto/hmac"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxTimestampDigits bounds a Unix-seconds header so that arithmetic on it cannot
// overflow int64 (18 digits is far beyond year 9999).
const maxTimestampDigits = 18

// header returns the first value of name (case-insensitive), trimmed; "" when absent.
func header(h http.Header, name string) string {
	v := h.Values(name)
	if len(v) == 0 {
		return ""
	}
	return strings.TrimSpace(v[0])
}

// parseUnix parses a Unix time in whole seconds: ASCII digits only, no sign.
func parseUnix(s string) (int64, bool) {
	if s == "" || len(s) > maxTimestampDigits {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// checkWindow rejects a timestamp more than tol away from now, in either direction.
// Exactly tol away is still inside (the providers' libraries reject only when age > tol).
func checkWindow(ts int64, now time.Time, tol time.Duration) error {
	limit := int64(tol / time.Second) // diff is whole seconds, so diff > tol ⇔ diff > ⌊tol⌋
	diff := now.Unix() - ts
	switch {
	case diff > limit:
		return Unauthorized(CodeTimestampExpired, "timestamp is "+strconv.FormatInt(diff, 10)+"s old, outside the "+tol.String()+" tolerance")
	case -diff > limit:
		return Unauthorized(CodeTimestampInFuture, "timestamp is "+strconv.FormatInt(-diff, 10)+"s in the future, outside the "+tol.String()+" tolerance")
	}
	return nil
}

// macSum computes HMAC(key, parts...) without concatenating the parts.
func macSum(newHash func() hash.Hash, key []byte, parts ...[]byte) []byte {
	m := hmac.New(newHash, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// anyEqual reports, in constant time per pair, whether any candidate equals any
// expected value. It does not stop at the first match, so timing does not reveal
// which secret or which candidate matched.
func anyEqual(candidates []string, expected [][]byte) bool {
	ok := 0
	for _, want := range expected {
		for _, got := range candidates {
			ok |= subtle.ConstantTimeCompare([]byte(got), want)
		}
	}
	return ok == 1
}

// rawKeys turns configured secrets into HMAC keys (their UTF-8 bytes), skipping empty
// ones (an unset …_PREVIOUS variable), and requires at least one.
func rawKeys(secrets []string) ([][]byte, error) {
	var keys [][]byte
	for _, s := range secrets {
		if s != "" {
			keys = append(keys, []byte(s))
		}
	}
	if len(keys) == 0 {
		return nil, ErrNoSecrets
	}
	return keys, nil
}

// ErrNoSecrets: a source has no non-empty secret to verify with.
var ErrNoSecrets = errors.New("no secret configured (every configured secret is empty)")

// tolerance fills the default window and rejects a negative one.
func tolerance(d time.Duration) (time.Duration, error) {
	switch {
	case d == 0:
		return DefaultTolerance, nil
	case d < time.Second:
		return 0, fmt.Errorf("tolerance %s: must be at least 1s", d)
	}
	return d, nil
}

// clock fills the default clock.
func clock(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}
