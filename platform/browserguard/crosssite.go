package browserguard

import (
	"net/http"

	"github.com/hookmesh/hookmesh/platform/restgw"
)

// CrossSite is middleware refusing a state-changing request (any method but
// GET, HEAD and OPTIONS) that a browser sent from another origin: one with
// Sec-Fetch-Site cross-site or same-site, or without it but with an Origin
// whose host is not the request's Host. The answer is 403
// forbidden_cross_site, token or not. Requests with neither header (curl, the
// CLI, gRPC-gateway clients) pass: they are not a browser on some page. The
// checks are net/http's CrossOriginProtection.
func CrossSite() func(http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		restgw.WriteError(w, http.StatusForbidden, CodeForbiddenCrossSite, "cross-site request refused")
	}))
	return cop.Handler
}
