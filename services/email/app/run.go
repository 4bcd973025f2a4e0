package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/hookmesh/hookmesh/platform/grpcserver"
	"github.com/hookmesh/hookmesh/platform/httpserver"
	"github.com/hookmesh/hookmesh/platform/logging"
	"github.com/hookmesh/hookmesh/platform/telemetry"
)

// Run runs the email service as its own process until ctx ends: gRPC on
// EMAIL_GRPC_ADDR, and the REST read API, /healthz and /metrics on
// EMAIL_HTTP_ADDR. Shutdown: HTTP and gRPC stop, then the store closes, then
// telemetry flushes.
func Run(ctx context.Context, cfg Config) error {
	tel, err := telemetry.Setup(ctx, telemetry.Config{Component: "email", Global: true})
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	logger := logging.New(os.Stderr, "email")
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(sctx); err != nil {
			logger.Error("telemetry shutdown", "error", err.Error())
		}
	}()
	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("listen on EMAIL_GRPC_ADDR: %w", err)
	}
	var hlis net.Listener
	if cfg.HTTPAddr != "" {
		if hlis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return errors.Join(fmt.Errorf("listen on EMAIL_HTTP_ADDR: %w", err), lis.Close())
		}
	}
	return serve(ctx, cfg, tel, logger, lis, hlis)
}

// serve runs the service on the given listeners (hlis may be nil) until ctx
// ends, and closes them.
func serve(ctx context.Context, cfg Config, tel *telemetry.Provider, logger *slog.Logger, lis, hlis net.Listener) error {
	closeAll := func(err error) error {
		errs := []error{err, lis.Close()}
		if hlis != nil {
			errs = append(errs, hlis.Close())
		}
		return errors.Join(errs...)
	}
	tp, prop := tel.TracerProvider, telemetry.Propagator()
	svc, err := New(ctx, cfg, Deps{TracerProvider: tp, Propagators: prop, Logger: logger})
	if err != nil {
		return closeAll(err)
	}
	defer func() {
		if err := svc.Close(); err != nil {
			logger.Error("close email service", "error", err.Error())
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
		mux := runtime.NewServeMux(runtime.WithErrorHandler(writeError))
		if err := svc.RegisterGateway(ctx, mux, conn); err != nil {
			return closeAll(err)
		}
		root := http.NewServeMux()
		root.Handle("/v1/email/", mux)
		root.Handle("GET /metrics", tel.Handler())
		root.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
			if err := svc.Ready(r.Context()); err != nil {
				http.Error(w, "store unavailable", http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte("ok\n"))
		})
		srv = &http.Server{Handler: otelhttp.NewHandler(root, "email", otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(prop)),
			ReadHeaderTimeout: 10 * time.Second}
		logger.InfoContext(ctx, "email http listening", "addr", hlis.Addr().String())
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return gs.Serve(gctx, lis) })
	if srv != nil {
		g.Go(func() error { return httpserver.Serve(gctx, srv, hlis) })
	}
	logger.InfoContext(ctx, "email grpc listening", "addr", lis.Addr().String())
	return g.Wait()
}

// writeError writes a gRPC error as {"error": {"code": "...", "message": "..."}}
// with the matching HTTP status, the shape of every hookmesh REST error.
func writeError(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
	st := status.Convert(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(runtime.HTTPStatusFromCode(st.Code()))
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{
		"code":    codeName(st.Code()),
		"message": st.Message(),
	}})
}

// codeName is the lower-case canonical name of a gRPC code ("not_found").
func codeName(c codes.Code) string {
	names := map[codes.Code]string{
		codes.OK: "ok", codes.Canceled: "cancelled", codes.Unknown: "unknown", codes.InvalidArgument: "invalid_argument",
		codes.DeadlineExceeded: "deadline_exceeded", codes.NotFound: "not_found", codes.AlreadyExists: "already_exists",
		codes.PermissionDenied: "permission_denied", codes.ResourceExhausted: "resource_exhausted",
		codes.FailedPrecondition: "failed_precondition", codes.Aborted: "aborted", codes.OutOfRange: "out_of_range",
		codes.Unimplemented: "unimplemented", codes.Internal: "internal", codes.Unavailable: "unavailable",
		codes.DataLoss: "data_loss", codes.Unauthenticated: "unauthenticated",
	}
	if n, ok := names[c]; ok {
		return n
	}
	return strings.ToLower(c.String())
}

// Health asks the gRPC server at EMAIL_GRPC_ADDR for its grpc.health.v1 status
// (the health subcommand that container probes run).
func Health(ctx context.Context, cfg Config) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(cfg.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("dial EMAIL_GRPC_ADDR: %w", err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("email is %s", resp.GetStatus())
	}
	return nil
}
