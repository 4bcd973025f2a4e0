// Package browserguard keeps web pages open in an operator's browser from
// driving an admin listener: Hosts refuses a Host header that is not the
// listener's own (DNS rebinding), CrossSite refuses state-changing requests
// sent by another site (cross-site request forgery). Both answer 403 with the
// JSON error shape of platform/restgw and apply with or without a token, since
// a browser may hold the console's cookie and a loopback admin has no token.
package browserguard

// Error codes of the 403 answers.
const (
	// CodeForbiddenHost: the Host header names neither the listener nor an
	// allowed host.
	CodeForbiddenHost = "forbidden_host"
	// CodeForbiddenCrossSite: a state-changing request from another site.
	CodeForbiddenCrossSite = "forbidden_cross_site"
)
