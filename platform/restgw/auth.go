package restgw

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// BearerAuth is middleware requiring "Authorization: Bearer <token>". It
// answers 401 {"error":{"code":"unauthenticated",…}} otherwise. The tokens are
// compared in constant time (over their SHA-256, so the length does not leak
// either). An empty token rejects every request (fail closed).
func BearerAuth(token string) func(http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
			gotSum := sha256.Sum256([]byte(strings.TrimSpace(got)))
			if token == "" || !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(gotSum[:], want[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="hookmesh"`)
				WriteError(w, http.StatusUnauthorized, "unauthenticated", "missing or invalid bearer token")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
