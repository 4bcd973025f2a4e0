package restgw

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// BearerAuth is middleware requiring "Authorization: Bearer <token>" with one
// of tokens. It answers 401 {"error":{"code":"unauthenticated",…}} otherwise.
// The tokens are compared in constant time (over their SHA-256, so the length
// does not leak either). Empty tokens match nothing; with none every request is
// rejected (fail closed).
func BearerAuth(tokens ...string) func(http.Handler) http.Handler {
	var want [][sha256.Size]byte
	for _, t := range tokens {
		if t != "" {
			want = append(want, sha256.Sum256([]byte(t)))
		}
	}
	matches := func(got string) bool {
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		ok := 0
		for _, w := range want {
			ok |= subtle.ConstantTimeCompare(sum[:], w[:])
		}
		return ok == 1
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || !matches(got) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="hookmesh"`)
				WriteError(w, http.StatusUnauthorized, "unauthenticated", "missing or invalid bearer token")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
