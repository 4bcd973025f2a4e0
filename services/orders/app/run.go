package app

import (
	"context"
	"log/slog"

	"github.com/hookmesh/hookmesh/platform/standalone"
	"github.com/hookmesh/hookmesh/platform/telemetry"
)

// Run runs the orders service as its own process until ctx ends: gRPC on
// ORDERS_GRPC_ADDR, the REST read API, /healthz and /metrics on ORDERS_HTTP_ADDR, and the
// outbox workers.
func Run(ctx context.Context, cfg Config) error {
	return standalone.Run(ctx, cfg.process())
}

// Health asks the gRPC server at cfg.GRPCAddr for its grpc.health.v1 status
// (the health subcommand compose probes).
func Health(ctx context.Context, cfg Config) error {
	return standalone.Health(ctx, cfg.process())
}

// process is the orders service as a standalone process.
func (c Config) process() standalone.Config {
	return standalone.Config{
		Component:   "orders",
		GRPCAddr:    c.GRPCAddr,
		GRPCAddrEnv: "ORDERS_GRPC_ADDR",
		HTTPAddr:    c.HTTPAddr,
		HTTPAddrEnv: "ORDERS_HTTP_ADDR",
		Routes:      []standalone.Route{{Pattern: "/v1/"}},
		Token:       c.ServiceToken,
		TLS:         c.GRPCTLS,
		New: func(ctx context.Context, tel *telemetry.Provider, logger *slog.Logger) (*standalone.Service, error) {
			// Orders takes no propagator: it uses the global one telemetry installs.
			svc, err := New(ctx, c, Deps{TracerProvider: tel.TracerProvider, Logger: logger, Registerer: tel.Registry})
			if err != nil {
				return nil, err
			}
			return &standalone.Service{Register: svc.Register, RegisterGateway: svc.RegisterGateway, Ready: svc.Ready, Start: svc.Start, Close: svc.Close}, nil
		},
	}
}
