package webhook

import (
	"crypto/subtle"
	"strings"
)

// SharedSecret authenticates a request by a secret header (Hasura's scheme: Hasura
// signs nothing). The header name is matched case-insensitively, the value exactly.
type SharedSecret struct {
	Header  string   // e.g. X-Hasura-Webhook-Secret
	Secrets []string // any may match (rotation)
}

// Verify checks the header against every secret in constant time.
func (s SharedSecret) Verify(req *Request) error {
	values := req.Header.Values(s.Header)
	if len(values) == 0 || values[0] == "" {
		return Unauthorized(CodeMissingHeader, "header "+s.Header+" is missing")
	}
	got := []byte(values[0])
	ok := 0
	for _, secret := range s.Secrets {
		if secret == "" {
			continue
		}
		ok |= subtle.ConstantTimeCompare(got, []byte(secret))
	}
	if ok != 1 {
		return Unauthorized(CodeSignatureMismatch, "header "+strings.ToLower(s.Header)+" does not match")
	}
	return nil
}
