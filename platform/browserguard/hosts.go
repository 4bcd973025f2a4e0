package browserguard

import (
	"net"
	"net/http"
	"strings"

	"github.com/hookmesh/hookmesh/platform/restgw"
)

// Hosts is middleware that serves a request only when its Host (port
// ignored) is a loopback name or address (localhost, 127.0.0.0/8, [::1]), the
// IP address the connection arrived on, or one of allowed (host names or IP
// literals, compared case-insensitively; a port in an entry is ignored).
// Anything else — a rebound DNS name such as evil.example — gets 403
// forbidden_host. Names for proxies and load balancers go in allowed
// (HOOKMESH_ALLOWED_HOSTS).
func Hosts(allowed []string) func(http.Handler) http.Handler {
	allow := make(map[string]bool, len(allowed))
	for _, a := range allowed {
		if h := hostname(strings.TrimSpace(a)); h != "" {
			allow[h] = true
		}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !hostOK(r, allow) {
				restgw.WriteError(w, http.StatusForbidden, CodeForbiddenHost, "host not allowed; add it to HOOKMESH_ALLOWED_HOSTS")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func hostOK(r *http.Request, allow map[string]bool) bool {
	h := hostname(r.Host)
	switch {
	case h == "":
		return false
	case h == "localhost", allow[h]:
		return true
	}
	ip := net.ParseIP(h)
	if ip == nil {
		return false
	}
	if ip.IsLoopback() {
		return true
	}
	// The address the client dialled is this listener's own, even when it
	// listens on 0.0.0.0; a rebinding attack always arrives under a name.
	if local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if tcp, ok := local.(*net.TCPAddr); ok && tcp.IP.Equal(ip) {
			return true
		}
	}
	return false
}

// hostname is the lower-case host of "host", "host:port", "[v6]" or "[v6]:port",
// without a trailing dot.
func hostname(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(strings.ToLower(h), ".")
}
