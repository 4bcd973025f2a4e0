package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookmesh/hookmesh/platform/restgw"
)

// CookieName is the console's session cookie.
const CookieName = "hookmesh_console"

// SessionTTL is how long a console login lasts.
const SessionTTL = 12 * time.Hour

// sessionLabel separates the session MAC from any other use of the token as a key.
const sessionLabel = "hookmesh console session v1|"

// sessionValue is "v1.<expiry unix>.<base64url HMAC-SHA256(token, label+expiry)>".
// It is stateless, so every gateway sharing the token accepts it, and it carries no
// part of the token itself.
func sessionValue(token string, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	return "v1." + exp + "." + sessionMAC(token, exp)
}

func sessionMAC(token, exp string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(sessionLabel + exp))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validSession reports whether value is an unexpired session for token.
func validSession(token, value string, now time.Time) bool {
	if token == "" {
		return false
	}
	version, rest, ok := strings.Cut(value, ".")
	if !ok || version != "v1" {
		return false
	}
	exp, mac, ok := strings.Cut(rest, ".")
	if !ok {
		return false
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || now.Unix() >= unix {
		return false
	}
	return hmac.Equal([]byte(mac), []byte(sessionMAC(token, exp)))
}

// tokenMatches compares in constant time over SHA-256 sums, so the length does not leak.
func tokenMatches(token, got string) bool {
	a, b := sha256.Sum256([]byte(token)), sha256.Sum256([]byte(got))
	return token != "" && subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// sameOrigin reports whether a browser request comes from a page of this origin.
// Sec-Fetch-Site is authoritative when present; otherwise the Origin header must be
// present and name this host. A state-changing request with neither is refused:
// the console's own requests always carry them.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "":
	default: // same-site, cross-site
		return false
	}
	return originHostOK(r)
}

// originHostOK checks that Origin is present and names r's Host.
func originHostOK(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return false
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

// sessionOK reports whether r carries a valid console session cookie.
func sessionOK(token string, r *http.Request, now time.Time) bool {
	c, err := r.Cookie(CookieName)
	return err == nil && validSession(token, c.Value, now)
}

// Auth lets the REST API accept the console's session cookie as an alternative to
// "Authorization: Bearer <token>": a request without an Authorization header but with
// a valid session cookie is passed on with the bearer header set, after its Origin is
// checked when the method changes state. Requests with an Authorization header, or
// without the cookie, pass through unchanged for the bearer check behind. With an
// empty token (no auth configured) it is the identity.
func Auth(token string) func(http.Handler) http.Handler {
	return authAt(token, time.Now)
}

func authAt(token string, now func() time.Time) func(http.Handler) http.Handler {
	if token == "" {
		return func(next http.Handler) http.Handler { return next }
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") == "" && sessionOK(token, r, now()) {
				if !safeMethod(r.Method) && !sameOrigin(r) {
					restgw.WriteError(w, http.StatusForbidden, "cross_origin", "cross-origin request refused")
					return
				}
				r = r.Clone(r.Context())
				r.Header.Set("Authorization", "Bearer "+token)
			}
			next.ServeHTTP(w, r)
		})
	}
}
