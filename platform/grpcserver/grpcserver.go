// Package grpcserver is the gRPC server every hookmesh binary runs: otelgrpc
// tracing (health checks left out), grpc.health.v1, server reflection
// (grpc.reflection.v1, behind the same interceptors as every other service, so
// a bearer token required by Options is required for reflection too), panic
// recovery, and a lifecycle that goes NOT_SERVING and stops gracefully when its context ends.
package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
)

// Config configures a Server.
type Config struct {
	// TracerProvider receives the server spans. Default: the global provider.
	TracerProvider trace.TracerProvider
	// Propagators extract the caller's trace context. Default: the global propagator.
	Propagators propagation.TextMapPropagator
	// Logger logs lifecycle events and recovered panics. Default: slog.Default().
	Logger *slog.Logger
	// ShutdownTimeout bounds GracefulStop; in-flight RPCs still running after it
	// are cancelled by Stop. Default 10s.
	ShutdownTimeout time.Duration
	// Options are extra grpc.ServerOptions (credentials, message sizes, interceptors).
	Options []grpc.ServerOption
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.ShutdownTimeout < 0 {
		return errors.New("grpcserver: ShutdownTimeout must not be negative")
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.TracerProvider == nil {
		c.TracerProvider = otel.GetTracerProvider()
	}
	if c.Propagators == nil {
		c.Propagators = otel.GetTextMapPropagator()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
}

// Server is a grpc.Server with health and lifecycle. Register services on
// Config is the server's Config with its defaults filled in (for clients in
// the same process that trace like the server).
func (s *Server) Config() Config { return s.cfg }

// GRPC() before calling Serve.
type Server struct {
	cfg    Config
	grpc   *grpc.Server
	health *healthService
	once   sync.Once
}

// New builds a Server.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	s := &Server{cfg: cfg, health: newHealthService()}
	opts := []grpc.ServerOption{
		grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(cfg.TracerProvider),
			otelgrpc.WithPropagators(cfg.Propagators),
			otelgrpc.WithFilter(filters.Not(filters.HealthCheck())),
		)),
		grpc.ChainUnaryInterceptor(s.recoverUnary),
		grpc.ChainStreamInterceptor(s.recoverStream),
	}
	s.grpc = grpc.NewServer(append(opts, cfg.Options...)...)
	// Until Serve runs, the process is not ready.
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	// grpcurl and buf curl discover the services without the protos.
	reflection.Register(s.grpc)
	return s, nil
}

// GRPC is the underlying server, for registering services.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Health is the health service, for marking single services NOT_SERVING
// while a dependency is down. Serve sets every registered service SERVING at
// start and NOT_SERVING at shutdown.
func (s *Server) Health() *health.Server { return s.health.Server }

// Serve serves on lis until ctx ends, then reports NOT_SERVING, stops
// accepting calls and waits (up to ShutdownTimeout) for in-flight ones. It
// returns nil after a shutdown caused by ctx, or the error that stopped the
// server. A Server serves once.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	first := false
	s.once.Do(func() { first = true })
	if !first {
		return errors.New("grpcserver: Serve called twice")
	}
	for name := range s.grpc.GetServiceInfo() {
		s.health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)

	errc := make(chan error, 1)
	go func() { errc <- s.grpc.Serve(lis) }()
	s.cfg.Logger.InfoContext(ctx, "grpc server started", "addr", lis.Addr().String())

	select {
	case err := <-errc:
		s.health.shutdown()
		s.grpc.Stop()
		if err != nil {
			return fmt.Errorf("serve grpc: %w", err)
		}
		return nil
	case <-ctx.Done():
	}
	// Watchers and load balancers see NOT_SERVING before the listener closes.
	s.health.shutdown()
	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	timer := time.NewTimer(s.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		s.cfg.Logger.WarnContext(ctx, "grpc graceful stop timed out; cancelling in-flight calls", "timeout", s.cfg.ShutdownTimeout)
		s.grpc.Stop()
		<-stopped
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve grpc: %w", err)
	}
	s.cfg.Logger.InfoContext(ctx, "grpc server stopped", "addr", lis.Addr().String())
	return nil
}

// recovered logs a handler panic and turns it into INTERNAL (a retry, per the
// consumer contract). The panic value is not logged: it may hold request data.
func (s *Server) recovered(ctx context.Context, method string) error {
	s.cfg.Logger.ErrorContext(ctx, "grpc handler panicked", "method", method, "stack", string(debug.Stack()))
	return status.Error(codes.Internal, "internal error")
}

func (s *Server) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if recover() != nil {
			err = s.recovered(ctx, info.FullMethod)
		}
	}()
	return handler(ctx, req)
}

func (s *Server) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if recover() != nil {
			err = s.recovered(ss.Context(), info.FullMethod)
		}
	}()
	return handler(srv, ss)
}
