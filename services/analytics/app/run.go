package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hookmesh/hookmesh/platform/grpcserver"
	"github.com/hookmesh/hookmesh/platform/httpserver"
	"github.com/hookmesh/hookmesh/platform/logging"
	"github.com/hookmesh/hookmesh/platform/restgw"
	"github.com/hookmesh/hookmesh/platform/telemetry"
)

// Run runs the analytics service as its own process until ctx ends: gRPC on
// ANALYTICS_GRPC_ADDR, and the REST read API, /healthz and /metrics on
// ANALYTICS_HTTP_ADDR. Shutdown: HTTP and gRPC stop (in-flight deliveries get
// their answer), the committer flushes, the store closes, then telemetry flushes.
func Run(ctx context.Context, cfg Config) error {
	tel, err := telemetry.Setup(ctx, telemetry.Config{Component: "analytics", Global: true})
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	logger := logging.New(os.Stderr, "analytics")
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(sctx); err != nil {
			logger.Error("telemetry shutdown", "error", err.Error())
		}
	}()
	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("listen on ANALYTICS_GRPC_ADDR: %w", err)
	}
	var hlis net.Listener
	if cfg.HTTPAddr != "" {
		if hlis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return errors.Join(fmt.Errorf("listen on ANALYTICS_HTTP_ADDR: %w", err), lis.Close())
		}
	}
	return serve(ctx, cfg, tel, logger, lis, hlis)
}

// serve runs the service on the given listeners (hlis may be nil) until ctx ends,
// and closes them.
func serve(ctx context.Context, cfg Config, tel *telemetry.Provider, logger *slog.Logger, lis, hlis net.Listener) error {
	closeAll := func(err error) error {
		errs := []error{err, lis.Close()}
		if hlis != nil {
			errs = append(errs, hlis.Close())
		}
		return errors.Join(errs...)
	}
	tp, prop := tel.TracerProvider, telemetry.Propagator()
	svc, err := New(ctx, cfg, Deps{TracerProvider: tp, Propagators: prop, Logger: logger, Registerer: tel.Registry})
	if err != nil {
		return closeAll(err)
	}
	// Runs after the servers stopped: every delivery in flight has its answer,
	// and what was submitted is committed before the store closes.
	defer func() {
		if err := svc.Close(); err != nil {
			logger.Error("close analytics service", "error", err.Error())
		}
	}()

	gs, err := grpcserver.New(grpcserver.Config{TracerProvider: tp, Propagators: prop, Logger: logger})
	if err != nil {
		return closeAll(err)
	}
	svc.Register(gs.GRPC())

	var srv *http.Server
	if hlis != nil {
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(prop))))
		if err != nil {
			return closeAll(fmt.Errorf("dial own gRPC server: %w", err))
		}
		defer conn.Close()
		rest, err := restgw.New(restgw.Config{Conn: conn, Register: []restgw.RegisterFunc{svc.RegisterGateway}})
		if err != nil {
			return closeAll(err)
		}
		root := http.NewServeMux()
		root.Handle("/v1/analytics/", rest)
		root.Handle("GET /metrics", tel.Handler())
		root.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
			if err := svc.Ready(r.Context()); err != nil {
				http.Error(w, "store unavailable", http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte("ok\n"))
		})
		srv = &http.Server{Handler: otelhttp.NewHandler(root, "analytics", otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(prop)),
			ReadHeaderTimeout: 10 * time.Second}
		logger.InfoContext(ctx, "analytics http listening", "addr", hlis.Addr().String())
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return gs.Serve(gctx, lis) })
	if srv != nil {
		g.Go(func() error { return httpserver.Serve(gctx, srv, hlis) })
	}
	logger.InfoContext(ctx, "analytics grpc listening", "addr", lis.Addr().String())
	return g.Wait()
}

// Health asks the gRPC server at ANALYTICS_GRPC_ADDR for its grpc.health.v1
// status (the health subcommand that container probes run).
func Health(ctx context.Context, cfg Config) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(cfg.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("dial ANALYTICS_GRPC_ADDR: %w", err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("analytics is %s", resp.GetStatus())
	}
	return nil
}
