// Package grpcauth is bearer-token auth for gRPC, the counterpart of
// restgw.BearerAuth: server interceptors that require the metadata
// "authorization: Bearer <token>" and tell the handler which caller it was,
// per-RPC credentials that send it, and the TLS settings of hookmesh's gRPC
// listeners and dialers (tls.go).
package grpcauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Require returns the server options (a unary and a stream interceptor) that
// require the bearer token on every method except those of the open services,
// given by full name (e.g. "grpc.health.v1.Health"). A call without a bearer
// token fails with Unauthenticated "missing bearer token", one with another
// token with Unauthenticated "invalid token". Tokens are compared in constant
// time over their SHA-256, so the length does not leak either. An empty token
// rejects every call (fail closed). The caller is the principal "admin".
func Require(token string, open ...string) []grpc.ServerOption {
	return Policy{Principals: []Principal{{Name: Admin, Token: token}}, Open: open}.ServerOptions()
}

// Admin is the name of Require's one principal.
const Admin = "admin"

// Principal is one caller the server knows by its token.
type Principal struct {
	// Name identifies the caller to handlers (FromContext), e.g. "admin" or
	// "publisher:orders".
	Name string
	// Token is its bearer token; an empty one matches no call.
	Token string
	// Services are the full names of the services it may call (e.g.
	// "hookmesh.event.v1.PublisherService"); empty means all. A call to
	// another one fails with PermissionDenied.
	Services []string
}

// Policy is who may call which services of a server.
type Policy struct {
	// Principals are the known callers; the first whose token matches wins.
	Principals []Principal
	// Open services are served to anyone, without a token (grpc.health.v1).
	Open []string
	// Anonymous lets calls without any bearer token through as no principal
	// (a loopback server without an admin token); a call with an unknown
	// token still fails, so a mistyped token is noticed.
	Anonymous bool
}

// ServerOptions returns the unary and stream interceptors enforcing p.
func (p Policy) ServerOptions() []grpc.ServerOption {
	a := &authorizer{open: map[string]bool{}, anonymous: p.Anonymous}
	for _, s := range p.Open {
		a.open[s] = true
	}
	for _, pr := range p.Principals {
		k := known{name: pr.Name, ok: pr.Token != "", sum: sha256.Sum256([]byte(pr.Token))}
		if len(pr.Services) > 0 {
			k.services = map[string]bool{}
			for _, s := range pr.Services {
				k.services[s] = true
			}
		}
		a.known = append(a.known, k)
	}
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(a.unary), grpc.ChainStreamInterceptor(a.stream)}
}

type known struct {
	name     string
	ok       bool // has a token
	sum      [sha256.Size]byte
	services map[string]bool // nil: all
}

type authorizer struct {
	known     []known
	open      map[string]bool
	anonymous bool
}

type principalKey struct{}

// FromContext is the name of the principal whose token the call carried;
// ok is false for open services and anonymous calls.
func FromContext(ctx context.Context) (name string, ok bool) {
	name, ok = ctx.Value(principalKey{}).(string)
	return name, ok
}

func (a *authorizer) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := a.check(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (a *authorizer) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := a.check(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return handler(srv, &principalStream{ServerStream: ss, ctx: ctx})
}

type principalStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *principalStream) Context() context.Context { return s.ctx }

func (a *authorizer) check(ctx context.Context, fullMethod string) (context.Context, error) {
	svc := service(fullMethod)
	if a.open[svc] {
		return ctx, nil
	}
	// Several values can arrive (grpc-gateway forwards the HTTP caller's header
	// next to the connection's own credentials): one right token is enough.
	found := false
	var denied *known
	for _, v := range metadata.ValueFromIncomingContext(ctx, "authorization") {
		scheme, got, ok := strings.Cut(v, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			continue
		}
		found = true
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		for i := range a.known {
			k := &a.known[i]
			if !k.ok || subtle.ConstantTimeCompare(sum[:], k.sum[:]) != 1 {
				continue
			}
			if k.services != nil && !k.services[svc] {
				denied = k
				continue
			}
			return context.WithValue(ctx, principalKey{}, k.name), nil
		}
	}
	switch {
	case denied != nil:
		return nil, status.Errorf(codes.PermissionDenied, "%s may not call %s", denied.name, svc)
	case !found && a.anonymous:
		return ctx, nil
	case !found:
		return nil, status.Error(codes.Unauthenticated, "missing bearer token")
	}
	return nil, status.Error(codes.Unauthenticated, "invalid token")
}

// service is the service part of "/package.Service/Method".
func service(fullMethod string) string {
	s := strings.TrimPrefix(fullMethod, "/")
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[:i]
	}
	return s
}

// WithBearer is the dial option that sends token as "authorization: Bearer
// <token>" on every call; an empty token sends nothing (a server without a
// token asks for none). It does not require transport security: a hop on
// loopback or a private network may be plaintext (see tls.go for the rest).
func WithBearer(token string) grpc.DialOption {
	if token == "" {
		return grpc.EmptyDialOption{}
	}
	return grpc.WithPerRPCCredentials(bearer(token))
}

type bearer string

var _ credentials.PerRPCCredentials = bearer("")

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }
