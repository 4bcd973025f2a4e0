package gateway

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/hookmesh/hookmesh/platform/browserguard"
	"github.com/hookmesh/hookmesh/platform/restgw"
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

// metricsAuth requires the admin token on /metrics when its listener is off
// loopback (series name sources, subscriptions and volumes); on loopback it
// stays open for a local Prometheus.
func metricsAuth(token string, lis net.Addr, metrics http.Handler) http.Handler {
	if isLoopback(lis) {
		return metrics
	}
	return restgw.BearerAuth(token)(metrics)
}

// MinAdminTokenLength is the shortest HOOKMESH_ADMIN_TOKEN accepted when an
// admin listener is off loopback (one character was accepted once); e.g.
// `openssl rand -hex 32` gives 64.
const MinAdminTokenLength = 16

// checkTokenLength refuses a short admin token when any of the listeners it
// guards is off loopback.
func checkTokenLength(token string, listeners ...net.Addr) error {
	if token == "" || len(token) >= MinAdminTokenLength {
		return nil
	}
	for _, a := range listeners {
		if !isLoopback(a) {
			return fmt.Errorf("HOOKMESH_ADMIN_TOKEN is %d characters and %s is not loopback: use at least %d (e.g. openssl rand -hex 32)",
				len(token), a, MinAdminTokenLength)
		}
	}
	return nil
}
