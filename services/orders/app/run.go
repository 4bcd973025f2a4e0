package app

import (
	"context"
	"errors"
	"fmt"
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

// Run runs the orders service as its own process until ctx ends: gRPC on
// ORDERS_GRPC_ADDR, the REST read API, /healthz and /metrics on ORDERS_HTTP_ADDR, and the
// outbox workers.
func Run(ctx context.Context, cfg Config) error {
	logger := logging.New(os.Stderr, "orders")
	tel, err := telemetry.Setup(ctx, telemetry.Config{Component: "orders", Global: true})
	if err != nil {
		return err
	}
	defer func() {
		// Last: flush the spans of the shutdown too.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(sctx); err != nil {
			logger.Error("telemetry shutdown", "error", err.Error())
		}
	}()
	tp := tel.TracerProvider
	svc, err := New(ctx, cfg, Deps{TracerProvider: tp, Logger: logger, Registerer: tel.Registry})
	if err != nil {
		return err
	}
	defer func() {
		if err := svc.Close(); err != nil {
			logger.Error("close orders service", "error", err.Error())
		}
	}()

	gs, err := grpcserver.New(grpcserver.Config{TracerProvider: tp, Logger: logger})
	if err != nil {
		return err
	}
	svc.Register(gs.GRPC())
	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("listen on ORDERS_GRPC_ADDR: %w", err)
	}

	var (
		hlis net.Listener
		srv  *http.Server
	)
	if cfg.HTTPAddr != "" {
		if hlis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return errors.Join(fmt.Errorf("listen on ORDERS_HTTP_ADDR: %w", err), lis.Close())
		}
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(tp))))
		if err != nil {
			return errors.Join(fmt.Errorf("dial own gRPC server: %w", err), lis.Close(), hlis.Close())
		}
		defer conn.Close()
		rest, err := restgw.New(restgw.Config{Conn: conn, Register: []restgw.RegisterFunc{svc.RegisterGateway}})
		if err != nil {
			return errors.Join(err, lis.Close(), hlis.Close())
		}
		root := http.NewServeMux()
		root.Handle("/v1/", rest)
		root.Handle("GET /metrics", tel.Handler())
		root.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
			if err := svc.Ready(r.Context()); err != nil {
				http.Error(w, "store unavailable", http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte("ok\n"))
		})
		srv = &http.Server{Handler: otelhttp.NewHandler(root, "orders", otelhttp.WithTracerProvider(tp))}
		logger.InfoContext(ctx, "orders http listening", "addr", hlis.Addr().String())
	}

	g, ctx := errgroup.WithContext(ctx)
	svc.Start(ctx)
	g.Go(func() error { return gs.Serve(ctx, lis) })
	if srv != nil {
		g.Go(func() error { return httpserver.Serve(ctx, srv, hlis) })
	}
	logger.InfoContext(ctx, "orders grpc listening", "addr", lis.Addr().String())
	return g.Wait()
}

// Health asks the gRPC server at cfg.GRPCAddr for its grpc.health.v1 status
// (the health subcommand compose probes).
func Health(ctx context.Context, cfg Config) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(cfg.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("dial ORDERS_GRPC_ADDR: %w", err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("orders is %s", resp.GetStatus())
	}
	return nil
}
