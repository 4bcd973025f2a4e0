package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/hookmesh/hookmesh/platform/logging"
	"github.com/hookmesh/hookmesh/platform/telemetry"
)

// ProcessConfig is the environment of the gateway as its own process
// (gateway/cmd/hookmesh-gateway): the gateway's own, and where its gRPC API
// (PublisherService, AdminService) listens for other processes.
type ProcessConfig struct {
	Gateway Config
	// GRPCAddr exposes the gRPC API, e.g. to services publishing follow-up
	// events; the default sits beside HOOKMESH_HTTP_ADDR's 8090, as in `hookmesh
	// serve`. Off loopback it needs HOOKMESH_ADMIN_TOKEN, which callers send as a
	// bearer token.
	GRPCAddr string `env:"HOOKMESH_GRPC_ADDR" default:"127.0.0.1:8091"`
}

// Run runs the gateway as its own process until ctx ends, logging to stderr;
// telemetry flushes last.
func Run(ctx context.Context, cfg ProcessConfig) error { return run(ctx, cfg, os.Stderr) }

func run(ctx context.Context, cfg ProcessConfig, stderr io.Writer) (err error) {
	logger := logging.New(stderr, "gateway")
	tel, err := telemetry.Setup(ctx, telemetry.Config{Component: "gateway", Global: true, Logger: logger})
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		err = errors.Join(err, tel.Shutdown(sctx))
	}()
	addr := cfg.GRPCAddr
	if addr == "" { // set empty: a loopback port of its own
		addr = "127.0.0.1:0"
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on HOOKMESH_GRPC_ADDR: %w", err)
	}
	gw, err := New(ctx, cfg.Gateway, Deps{Logger: logger, TracerProvider: tel.TracerProvider, Registry: tel.Registry, GRPCListener: lis})
	if err != nil {
		return errors.Join(err, lis.Close())
	}
	return gw.Run(ctx)
}

// Health asks the gateway serving on HOOKMESH_HTTP_ADDR for /healthz, over
// loopback when that address is every interface (the health subcommand that
// container probes run).
func Health(ctx context.Context, cfg ProcessConfig) error {
	host, port, err := net.SplitHostPort(cfg.Gateway.HTTPAddr)
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
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health check: status %d", resp.StatusCode)
	}
	return nil
}
