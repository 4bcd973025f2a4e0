package app

import (
	"context"
	"log/slog"
	"net"

	"github.com/hookmesh/hookmesh/platform/standalone"
	"github.com/hookmesh/hookmesh/platform/telemetry"
)

// Run runs the analytics service as its own process until ctx ends: gRPC on
// ANALYTICS_GRPC_ADDR, and the REST read API, /healthz and /metrics on
// ANALYTICS_HTTP_ADDR. Shutdown: HTTP and gRPC stop (in-flight deliveries get
// their answer), the committer flushes, the store closes, then telemetry flushes.
func Run(ctx context.Context, cfg Config) error {
	return standalone.Run(ctx, cfg.process())
}

// serve runs the service on the given listeners (hlis may be nil) until ctx ends,
// and closes them.
func serve(ctx context.Context, cfg Config, tel *telemetry.Provider, logger *slog.Logger, lis, hlis net.Listener) error {
	return standalone.Serve(ctx, cfg.process(), tel, logger, lis, hlis)
}

// Health asks the gRPC server at ANALYTICS_GRPC_ADDR for its grpc.health.v1
// status (the health subcommand that container probes run).
func Health(ctx context.Context, cfg Config) error {
	return standalone.Health(ctx, cfg.process())
}

// process is the analytics service as a standalone process.
func (c Config) process() standalone.Config {
	return standalone.Config{
		Component:   "analytics",
		GRPCAddr:    c.GRPCAddr,
		GRPCAddrEnv: "ANALYTICS_GRPC_ADDR",
		HTTPAddr:    c.HTTPAddr,
		HTTPAddrEnv: "ANALYTICS_HTTP_ADDR",
		Routes:      []standalone.Route{{Pattern: "/v1/analytics/"}},
		Token:       c.ServiceToken,
		TLS:         c.GRPCTLS,
		New: func(ctx context.Context, tel *telemetry.Provider, logger *slog.Logger) (*standalone.Service, error) {
			svc, err := New(ctx, c, Deps{TracerProvider: tel.TracerProvider, Logger: logger, Registerer: tel.Registry})
			if err != nil {
				return nil, err
			}
			// Close runs after the servers stopped: what was submitted is
			// committed before the store closes.
			return &standalone.Service{Register: svc.Register, RegisterGateway: svc.RegisterGateway, Ready: svc.Ready, Close: svc.Close}, nil
		},
	}
}
