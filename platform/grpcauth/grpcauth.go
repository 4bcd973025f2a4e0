// Package grpcauth is bearer-token auth for gRPC, the counterpart of
// restgw.BearerAuth: server interceptors that require the metadata
// "authorization: Bearer <token>", and per-RPC credentials that send it.
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
// rejects every call (fail closed).
func Require(token string, open ...string) []grpc.ServerOption {
	a := &authorizer{token: token, want: sha256.Sum256([]byte(token)), open: map[string]bool{}}
	for _, s := range open {
		a.open[s] = true
	}
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(a.unary), grpc.ChainStreamInterceptor(a.stream)}
}

type authorizer struct {
	token string
	want  [sha256.Size]byte
	open  map[string]bool
}

func (a *authorizer) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := a.check(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (a *authorizer) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := a.check(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}

func (a *authorizer) check(ctx context.Context, fullMethod string) error {
	if a.open[service(fullMethod)] {
		return nil
	}
	// Several values can arrive (grpc-gateway forwards the HTTP caller's header
	// next to the connection's own credentials): one right token is enough.
	found := false
	for _, v := range metadata.ValueFromIncomingContext(ctx, "authorization") {
		scheme, got, ok := strings.Cut(v, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			continue
		}
		found = true
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if a.token != "" && subtle.ConstantTimeCompare(sum[:], a.want[:]) == 1 {
			return nil
		}
	}
	if !found {
		return status.Error(codes.Unauthenticated, "missing bearer token")
	}
	return status.Error(codes.Unauthenticated, "invalid token")
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
// token asks for none). It does not require transport security: hookmesh's
// gRPC hops are plaintext, on loopback or a private network.
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
