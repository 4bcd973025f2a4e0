// Command hookmesh-gateway runs the gateway alone, for deployments where email,
// analytics, orders and any other consumer run as their own processes, reached
// through the config's host:port targets (docker-compose.yml). `hookmesh serve`
// runs the whole mesh in one process instead.
//
//	hookmesh-gateway [serve]   serve until SIGINT/SIGTERM
//	hookmesh-gateway health    exit 0 if the running gateway's /healthz answers 200
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hookmesh/hookmesh/gateway"
	"github.com/hookmesh/hookmesh/platform/envconfig"
	"github.com/hookmesh/hookmesh/platform/logging"
	"github.com/hookmesh/hookmesh/platform/telemetry"
)

// config is this binary's environment: the gateway's own, and where the gateway's
// gRPC API (PublisherService, AdminService) listens for other processes.
type config struct {
	Gateway gateway.Config
	// GRPCAddr exposes the gRPC API, e.g. to services publishing follow-up events;
	// unset keeps it on a loopback port of its own. Off loopback it needs
	// HOOKMESH_ADMIN_TOKEN, which callers send as a bearer token (plaintext gRPC:
	// keep it on a private network).
	GRPCAddr string `env:"HOOKMESH_GRPC_ADDR"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: exit code 2 for usage and configuration errors.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	logger := logging.New(stderr, "gateway")
	var cfg config
	if err := envconfig.Load(&cfg); err != nil {
		logger.Error("invalid configuration", "error", err.Error())
		return 2
	}
	switch {
	case len(args) == 0 || args[0] == "serve":
		if err := serve(ctx, cfg, logger); err != nil {
			logger.Error("gateway stopped", "error", err.Error())
			return 1
		}
	case args[0] == "health":
		if err := health(ctx, cfg.Gateway.HTTPAddr); err != nil {
			logger.Error("unhealthy", "error", err.Error())
			return 1
		}
	default:
		logger.Error("unknown command; use serve (default) or health", "command", args[0])
		return 2
	}
	return 0
}

func serve(ctx context.Context, cfg config, logger *slog.Logger) (err error) {
	tel, err := telemetry.Setup(ctx, telemetry.Config{Component: "gateway", Global: true, Logger: logger})
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		err = errors.Join(err, tel.Shutdown(sctx))
	}()
	deps := gateway.Deps{Logger: logger, TracerProvider: tel.TracerProvider, Registry: tel.Registry}
	if cfg.GRPCAddr != "" {
		if deps.GRPCListener, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
			return fmt.Errorf("listen on HOOKMESH_GRPC_ADDR: %w", err)
		}
	}
	gw, err := gateway.New(ctx, cfg.Gateway, deps)
	if err != nil {
		if deps.GRPCListener != nil {
			_ = deps.GRPCListener.Close()
		}
		return err
	}
	return gw.Run(ctx)
}

// health asks the gateway serving on addr (HOOKMESH_HTTP_ADDR, as the server has
// it) for /healthz over loopback when addr listens on every interface.
func health(ctx context.Context, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("HOOKMESH_HTTP_ADDR: %w", err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return fmt.Errorf("health request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health check: status %d", resp.StatusCode)
	}
	return nil
}
