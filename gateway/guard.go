package gateway

import (
	"net/http"
	"strings"

	"github.com/hookmesh/hookmesh/platform/browserguard"
)

// guardAdmin puts the browser checks in front of the admin paths of next (the
// REST API, the console, /metrics), token or not: their Host must be the
// listener's own, loopback or one of allowed (DNS rebinding), and their
// state-changing calls must not come from another site (CSRF). Webhooks,
// /healthz, /readyz and the public paths (a verification link users open at
// the public URL) are not admin paths.
func guardAdmin(allowed, public []string, next http.Handler) http.Handler {
	hosts := browserguard.Hosts(allowed)(next)
	crossSite := browserguard.CrossSite()(hosts)
	isPublic := make(map[string]bool, len(public))
	for _, p := range public {
		isPublic[p] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case isPublic[p]:
			next.ServeHTTP(w, r)
		case strings.HasPrefix(p, "/v1/"), p == "/console", strings.HasPrefix(p, "/console/"):
			crossSite.ServeHTTP(w, r)
		case p == "/metrics":
			hosts.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}
