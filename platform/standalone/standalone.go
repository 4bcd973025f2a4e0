// Package standalone runs one service as its own process: gRPC on one
// listener and, optionally, the service's REST API (grpc-gateway over a
// loopback connection to that gRPC server, so interceptors and tracing run for
// REST calls too), /healthz and /metrics on another. The all-in-one hookmesh
// binary wires the services itself and does not use it.
package standalone

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
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hookmesh/hookmesh/platform/browserguard"
	"github.com/hookmesh/hookmesh/platform/grpcauth"
	"github.com/hookmesh/hookmesh/platform/grpcserver"
	"github.com/hookmesh/hookmesh/platform/httpserver"
	"github.com/hookmesh/hookmesh/platform/logging"
	"github.com/hookmesh/hookmesh/platform/restgw"
	"github.com/hookmesh/hookmesh/platform/telemetry"
)

// Config is what differs between the services' processes.
type Config struct {
	// Component names the service ("email"): telemetry's service.name, the
	// logger's component and the HTTP server spans.
	Component string
	// GRPCAddr is where gRPC listens; GRPCAddrEnv is the variable it comes
	// from, named in errors.
	GRPCAddr, GRPCAddrEnv string
	// HTTPAddr is where REST, /healthz and /metrics listen; empty turns HTTP
	// off. HTTPAddrEnv is the variable it comes from, named in errors.
	HTTPAddr, HTTPAddrEnv string
	// Routes mount the service's REST API on the HTTP listener.
	Routes []Route
	// Token (SERVICE_TOKEN) is the bearer token every gRPC call but health,
	// and every REST route but the public ones, must carry. Without it both
	// listeners must be on loopback.
	Token string
	// TLS is the gRPC listener's TLS (GRPC_TLS_*); unset serves plaintext.
	TLS grpcauth.ServerTLS

	// New builds the service on the process's telemetry and logger. It runs
	// once the listeners are open, so a failure closes them again.
	New func(ctx context.Context, tel *telemetry.Provider, logger *slog.Logger) (*Service, error)
}

// Route mounts the service's REST API (Service.RegisterGateway) at Pattern,
// an http.ServeMux pattern such as "/v1/orders/" or "GET /v1/email/verify".
type Route struct {
	Pattern string
	// Public routes (a link users open) take no token.
	Public bool
	// AdminToken is accepted on this route besides Config.Token.
	AdminToken string
	// Wrap, when set, wraps the route's REST handler (e.g. a page in front of
	// an API call).
	Wrap func(http.Handler) http.Handler
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.Component == "" {
		errs = append(errs, errors.New("standalone: Component is required"))
	}
	if c.GRPCAddrEnv == "" {
		errs = append(errs, errors.New("standalone: GRPCAddrEnv is required"))
	}
	if c.HTTPAddr != "" && c.HTTPAddrEnv == "" {
		errs = append(errs, errors.New("standalone: HTTPAddrEnv is required with HTTPAddr"))
	}
	if c.New == nil {
		errs = append(errs, errors.New("standalone: New is required"))
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	// The patterns are tried on a scratch mux beside /metrics and /healthz,
	// because ServeMux panics on an invalid or conflicting one.
	scratch := http.NewServeMux()
	for _, p := range append([]string{metricsPattern, healthzPattern}, c.routePatterns()...) {
		if err := handle(scratch, p, http.NotFoundHandler()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c Config) routePatterns() []string {
	ps := make([]string, len(c.Routes))
	for i, r := range c.Routes {
		ps[i] = r.Pattern
	}
	return ps
}

const (
	metricsPattern = "GET /metrics"
	healthzPattern = "GET /healthz"
)

// handle is mux.Handle returning, rather than panicking with, a bad pattern.
func handle(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("standalone: route %q: %v", pattern, r)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// Service is what the process needs of a built service.
type Service struct {
	// Register adds the service's gRPC services to the server.
	Register func(*grpc.Server)
	// RegisterGateway adds the service's REST mappings; required with Routes.
	RegisterGateway restgw.RegisterFunc
	// Ready reports whether the service can answer (its store is reachable);
	// /healthz answers 503 while it fails.
	Ready func(context.Context) error
	// Start, when set, starts background work; ctx ends when serving stops.
	Start func(ctx context.Context)
	// Close runs once both servers have stopped, so every call in flight has
	// its answer before the service flushes and closes its store.
	Close func() error
}

func (s *Service) validate(routes bool) error {
	if s == nil {
		return errors.New("standalone: New returned no Service")
	}
	var errs []error
	if s.Register == nil || s.Ready == nil || s.Close == nil {
		errs = append(errs, errors.New("standalone: Service needs Register, Ready and Close"))
	}
	if routes && s.RegisterGateway == nil {
		errs = append(errs, errors.New("standalone: Service needs RegisterGateway to serve Routes"))
	}
	return errors.Join(errs...)
}

// Run runs the service until ctx ends: it sets up telemetry (the global
// provider) and a JSON logger on stderr, listens on GRPCAddr and HTTPAddr,
// and serves. Shutdown: HTTP and gRPC stop, then the service closes, then
// telemetry flushes.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	tel, err := telemetry.Setup(ctx, telemetry.Config{Component: cfg.Component, Global: true})
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	logger := logging.New(os.Stderr, cfg.Component)
	defer func() {
		// Last, so the spans of the shutdown are flushed too.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(sctx); err != nil {
			logger.Error("telemetry shutdown", "error", err.Error())
		}
	}()
	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.GRPCAddrEnv, err)
	}
	var hlis net.Listener
	if cfg.HTTPAddr != "" {
		if hlis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return errors.Join(fmt.Errorf("listen on %s: %w", cfg.HTTPAddrEnv, err), lis.Close())
		}
	}
	return Serve(ctx, cfg, tel, logger, lis, hlis)
}

// Serve is Run on listeners the caller opened (hlis may be nil: no HTTP) and
// telemetry it set up; the addresses in cfg are not used. It closes the
// listeners, also when it fails before serving.
func Serve(ctx context.Context, cfg Config, tel *telemetry.Provider, logger *slog.Logger, lis, hlis net.Listener) error {
	closeAll := func(err error) error {
		errs := []error{err, lis.Close()}
		if hlis != nil {
			errs = append(errs, hlis.Close())
		}
		return errors.Join(errs...)
	}
	if err := cfg.Validate(); err != nil {
		return closeAll(err)
	}
	if err := cfg.checkExposure(lis, hlis); err != nil {
		return closeAll(err)
	}
	tlsOpts, err := cfg.TLS.ServerOptions()
	if err != nil {
		return closeAll(err)
	}
	selfCreds, err := cfg.TLS.SelfDial()
	if err != nil {
		return closeAll(err)
	}
	tp, prop := tel.TracerProvider, telemetry.Propagator()
	svc, err := cfg.New(ctx, tel, logger)
	if err != nil {
		return closeAll(err)
	}
	if err := svc.validate(len(cfg.Routes) > 0); err != nil {
		if svc != nil && svc.Close != nil {
			err = errors.Join(err, svc.Close())
		}
		return closeAll(err)
	}
	defer func() {
		if err := svc.Close(); err != nil {
			logger.Error("close service", "error", err.Error())
		}
	}()

	gopts := tlsOpts
	if cfg.Token != "" {
		gopts = append(gopts, grpcauth.Require(cfg.Token, healthpb.Health_ServiceDesc.ServiceName)...)
	}
	gs, err := grpcserver.New(grpcserver.Config{TracerProvider: tp, Propagators: prop, Logger: logger, Options: gopts})
	if err != nil {
		return closeAll(err)
	}
	svc.Register(gs.GRPC())

	var srv *http.Server
	if hlis != nil {
		// It carries the token itself: the REST routes checked their caller.
		conn, err := grpc.NewClient(lis.Addr().String(), selfCreds, grpcauth.WithBearer(cfg.Token),
			grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(prop))))
		if err != nil {
			return closeAll(fmt.Errorf("dial own gRPC server: %w", err))
		}
		defer func() { _ = conn.Close() }()
		mux, err := newMux(cfg.Routes, cfg.Token, svc, conn, cfg.metricsAuth(hlis.Addr())(tel.Handler()))
		if err != nil {
			return closeAll(err)
		}
		// Timeouts: httpserver's defaults (Serve fills them).
		srv = &http.Server{Handler: otelhttp.NewHandler(mux, cfg.Component, otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(prop))}
		logger.InfoContext(ctx, "http listening", "addr", hlis.Addr().String())
	}

	g, gctx := errgroup.WithContext(ctx)
	if svc.Start != nil {
		svc.Start(gctx)
	}
	g.Go(func() error { return gs.Serve(gctx, lis) })
	if srv != nil {
		g.Go(func() error { return httpserver.Serve(gctx, srv, hlis) })
	}
	logger.InfoContext(ctx, "grpc listening", "addr", lis.Addr().String())
	return g.Wait()
}

// checkExposure refuses listeners off loopback without SERVICE_TOKEN: anyone
// on the network could deliver forged events or read the service's data. (An
// HTTP listener whose every private route has its own token may.)
func (c Config) checkExposure(lis, hlis net.Listener) error {
	if c.Token != "" {
		return nil
	}
	if !loopback(lis.Addr()) {
		return fmt.Errorf("%s listens on %s, which is not loopback: set SERVICE_TOKEN", c.GRPCAddrEnv, lis.Addr())
	}
	if hlis != nil && !loopback(hlis.Addr()) && !c.routesGuarded() {
		return fmt.Errorf("%s listens on %s, which is not loopback: set SERVICE_TOKEN", c.HTTPAddrEnv, hlis.Addr())
	}
	return nil
}

// routesGuarded reports whether every non-public route has a token of its own.
func (c Config) routesGuarded() bool {
	for _, r := range c.Routes {
		if !r.Public && r.AdminToken == "" {
			return false
		}
	}
	return true
}

// metricsAuth guards /metrics off loopback with SERVICE_TOKEN or a route's
// admin token (none set: always 401); on loopback it stays open.
func (c Config) metricsAuth(addr net.Addr) func(http.Handler) http.Handler {
	if loopback(addr) {
		return func(h http.Handler) http.Handler { return h }
	}
	tokens := []string{c.Token}
	for _, r := range c.Routes {
		tokens = append(tokens, r.AdminToken)
	}
	return restgw.BearerAuth(tokens...)
}

func loopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// newMux serves the routes (each its own REST handler over conn), /metrics
// and /healthz.
func newMux(routes []Route, token string, svc *Service, conn *grpc.ClientConn, metrics http.Handler) (*http.ServeMux, error) {
	mux := http.NewServeMux()
	for _, r := range routes {
		h, err := restgw.New(restgw.Config{Conn: conn, Register: []restgw.RegisterFunc{svc.RegisterGateway}})
		if err != nil {
			return nil, err
		}
		if r.Wrap != nil {
			h = r.Wrap(h)
		}
		switch {
		case r.Public:
		case token != "" || r.AdminToken != "":
			h = restgw.BearerAuth(token, r.AdminToken)(h)
		default:
			// No token (loopback only): a rebound DNS name in a browser must
			// not read it either.
			h = browserguard.Hosts(nil)(h)
		}
		mux.Handle(r.Pattern, h)
	}
	mux.Handle(metricsPattern, metrics)
	mux.HandleFunc(healthzPattern, func(w http.ResponseWriter, r *http.Request) {
		if err := svc.Ready(r.Context()); err != nil {
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux, nil
}

// Health asks the gRPC server at cfg.GRPCAddr for its grpc.health.v1 status:
// the health subcommand that container probes run.
func Health(ctx context.Context, cfg Config) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	creds, err := cfg.TLS.SelfDial()
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(cfg.GRPCAddr, creds)
	if err != nil {
		return fmt.Errorf("dial %s: %w", cfg.GRPCAddrEnv, err)
	}
	defer func() { _ = conn.Close() }()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("%s is %s", cfg.Component, resp.GetStatus())
	}
	return nil
}
