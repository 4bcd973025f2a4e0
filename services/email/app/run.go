package app

import (
	"context"
	"log/slog"
	"net"
	"net/http"

	"github.com/hookmesh/hookmesh/platform/standalone"
	"github.com/hookmesh/hookmesh/platform/telemetry"
	"github.com/hookmesh/hookmesh/services/email/internal/verifyhttp"
)

// VerifyPath is where verification links point; VerifyPage serves it in
// front of a REST handler that has the email API (the all-in-one gateway).
const VerifyPath = verifyhttp.Path

// VerifyPage serves the page a verification link opens: GET shows a button,
// POST confirms through api.
func VerifyPage(api http.Handler) http.Handler { return verifyhttp.Page(api) }

// Run runs the email service as its own process until ctx ends: gRPC on
// EMAIL_GRPC_ADDR, and the REST read API, /healthz and /metrics on
// EMAIL_HTTP_ADDR. Shutdown: HTTP and gRPC stop, then the store closes, then
// telemetry flushes.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.validateHTTP(); err != nil {
		return err
	}
	return standalone.Run(ctx, cfg.process())
}

// serve runs the service on the given listeners (hlis may be nil) until ctx
// ends, and closes them.
func serve(ctx context.Context, cfg Config, tel *telemetry.Provider, logger *slog.Logger, lis, hlis net.Listener) error {
	return standalone.Serve(ctx, cfg.process(), tel, logger, lis, hlis)
}

// Health asks the gRPC server at EMAIL_GRPC_ADDR for its grpc.health.v1 status
// (the health subcommand that container probes run).
func Health(ctx context.Context, cfg Config) error {
	return standalone.Health(ctx, cfg.process())
}

// process is the email service as a standalone process.
func (c Config) process() standalone.Config {
	return standalone.Config{
		Component:   "email",
		GRPCAddr:    c.GRPCAddr,
		GRPCAddrEnv: "EMAIL_GRPC_ADDR",
		HTTPAddr:    c.HTTPAddr,
		HTTPAddrEnv: "EMAIL_HTTP_ADDR",
		// The verification link is opened by users, so it is never behind the
		// operator token; the message list (addresses) is when one is set.
		Routes: []standalone.Route{
			// GET shows a button, POST confirms (link scanners follow GETs).
			{Pattern: verifyhttp.Path, Public: true, Wrap: verifyhttp.Page},
			{Pattern: "/v1/email/", AdminToken: c.AdminToken},
		},
		Token: c.ServiceToken,
		TLS:   c.GRPCTLS,
		New: func(ctx context.Context, tel *telemetry.Provider, logger *slog.Logger) (*standalone.Service, error) {
			svc, err := New(ctx, c, Deps{TracerProvider: tel.TracerProvider, Propagators: telemetry.Propagator(), Logger: logger, Registerer: tel.Registry})
			if err != nil {
				return nil, err
			}
			return &standalone.Service{Register: svc.Register, RegisterGateway: svc.RegisterGateway, Ready: svc.Ready, Close: svc.Close}, nil
		},
	}
}
