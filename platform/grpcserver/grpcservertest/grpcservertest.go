// Package grpcservertest starts grpcserver.Servers on loopback for tests and
// dials them.
package grpcservertest

import (
	"context"
	"net"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hookmesh/hookmesh/platform/grpcserver"
)

// MustStart serves the services that register adds on a loopback port (port
// 0) and returns a client connection to it (with otelgrpc client tracing on
// the global provider). The server stops and the connection closes at cleanup.
func MustStart(tb testing.TB, register func(*grpc.Server)) *grpc.ClientConn {
	tb.Helper()
	return MustStartWith(tb, grpcserver.Config{}, register)
}

// MustStartWith is MustStart with a Config, e.g. to trace into a test
// TracerProvider. The client uses the same TracerProvider and propagators.
func MustStartWith(tb testing.TB, cfg grpcserver.Config, register func(*grpc.Server)) *grpc.ClientConn {
	tb.Helper()
	srv, err := grpcserver.New(cfg)
	if err != nil {
		tb.Fatalf("grpcserver: new: %v", err)
	}
	if register != nil {
		register(srv.GRPC())
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("grpcserver: listen: %v", err)
	}
	// Not tb.Context(): that ends before every cleanup, also those that still
	// need the server.
	ctx, cancel := context.WithCancel(context.Background()) //nolint:usetesting // see above
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()

	conn, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(
			otelgrpc.WithTracerProvider(srv.Config().TracerProvider),
			otelgrpc.WithPropagators(srv.Config().Propagators),
			otelgrpc.WithFilter(filters.Not(filters.HealthCheck())),
		)),
	)
	if err != nil {
		cancel()
		if err := <-done; err != nil {
			tb.Logf("grpcserver: serve: %v", err)
		}
		tb.Fatalf("grpcserver: dial: %v", err)
	}
	tb.Cleanup(func() {
		_ = conn.Close()
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("grpcserver: serve: %v", err)
		}
	})
	return conn
}

// MustDial is a plaintext client connection to addr with opts added (e.g. a
// token), closed at cleanup.
func MustDial(tb testing.TB, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	tb.Helper()
	conn, err := grpc.NewClient(addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		tb.Fatalf("grpcserver: dial %s: %v", addr, err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return conn
}
