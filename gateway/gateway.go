// Package gateway assembles hookmesh's gateway: the webhook front door
// (POST /hooks/{source}), the event log, the admin API (gRPC, and REST under /v1/
// through grpc-gateway over a real loopback gRPC connection), health and metrics.
// The dispatcher (gateway/internal/dispatch) delivers to the config's subscriptions.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/hookmesh/hookmesh/gateway/internal/admin"
	"github.com/hookmesh/hookmesh/gateway/internal/catalog"
	"github.com/hookmesh/hookmesh/gateway/internal/cloudevents"
	"github.com/hookmesh/hookmesh/gateway/internal/config"
	"github.com/hookmesh/hookmesh/gateway/internal/console"
	"github.com/hookmesh/hookmesh/gateway/internal/dispatch"
	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	"github.com/hookmesh/hookmesh/gateway/internal/ingest"
	"github.com/hookmesh/hookmesh/gateway/internal/publish"
	"github.com/hookmesh/hookmesh/gateway/internal/scheduler"
	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/envconfig"
	"github.com/hookmesh/hookmesh/platform/grpcauth"
	"github.com/hookmesh/hookmesh/platform/grpcserver"
	"github.com/hookmesh/hookmesh/platform/httpserver"
	"github.com/hookmesh/hookmesh/platform/restgw"
)

// Config is the gateway's environment (DESIGN.md, "The user-facing interface").
type Config struct {
	// DataDir holds the embedded event log (and the other embedded state).
	DataDir string `env:"HOOKMESH_DATA_DIR" default:"./hookmesh-data"`
	// HTTPAddr serves webhooks, /healthz and /readyz; also the REST API and /metrics
	// unless AdminAddr is set.
	HTTPAddr string `env:"HOOKMESH_HTTP_ADDR" default:"127.0.0.1:8090"`
	// AdminAddr, when set, serves the REST API and /metrics on their own listener.
	AdminAddr string `env:"HOOKMESH_ADMIN_ADDR"`
	// NATSURL is an external NATS cluster; empty runs the embedded server.
	NATSURL string `env:"HOOKMESH_NATS_URL"`
	// AdminToken is the bearer token of the REST API and of the gRPC API (every
	// service but grpc.health.v1); required when either listens off loopback.
	AdminToken string `env:"HOOKMESH_ADMIN_TOKEN" secret:"true"`
	// ConfigFile is the YAML file; empty uses the built-in demo config.
	ConfigFile string `env:"HOOKMESH_CONFIG"`
	// AllowedHosts are the Host names (besides loopback and the listener's own
	// address) under which the REST API, console and /metrics answer: a
	// proxy's or load balancer's public name. Others get 403 forbidden_host.
	AllowedHosts []string `env:"HOOKMESH_ALLOWED_HOSTS"`
	// PublicURL is where users reach the gateway (a proxy's https URL): an
	// https one makes the console's cookie Secure.
	PublicURL string `env:"HOOKMESH_PUBLIC_URL"`
	// MaxBodiesInFlight caps the webhook requests reading or holding a body at
	// once on the HTTP listener (over it: 503 over_capacity); 0 is the default.
	MaxBodiesInFlight int `env:"HOOKMESH_MAX_BODIES_IN_FLIGHT"`
	// GRPCTLS serves the gRPC API with TLS, optionally mutual (GRPC_TLS_*).
	GRPCTLS grpcauth.ServerTLS
}

// dispatcher is the part of *dispatch.Dispatcher that Run drives: Start begins
// consuming and returns once running; Stop drains in-flight deliveries.
type dispatcher interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// Deps are the gateway's collaborators; every field is optional.
type Deps struct {
	Logger *slog.Logger
	// TracerProvider and Registry are the component's telemetry (platform/telemetry).
	TracerProvider trace.TracerProvider
	Registry       *prometheus.Registry
	// File overrides Config.ConfigFile with an already loaded config.
	File *config.File
	// Secrets resolves secrets_from_env (default: the environment, NAME or NAME_FILE);
	// the embedded mode passes one that falls back to generated demo secrets.
	Secrets config.SecretLookup
	// HTTPListener replaces listening on Config.HTTPAddr.
	HTTPListener net.Listener
	// Mount adds routes next to the REST API and /metrics (e.g. the email
	// verification page in the all-in-one binary); they must do their own auth.
	Mount func(mux *http.ServeMux)
	// Gatherer, when set, is what /metrics serves (e.g. the gateway's Registry
	// together with in-process services' registries); default Registry.
	Gatherer prometheus.Gatherer
	// GRPCListener serves the gateway's gRPC API (AdminService, PublisherService);
	// default: a new loopback port-0 listener. Off loopback it needs
	// Config.AdminToken, which every call but health must then carry.
	GRPCListener net.Listener
	// Builtins resolves subscription targets builtin:<name> to in-process
	// connections; builtin:gateway is always the gateway itself.
	Builtins map[string]*grpc.ClientConn
	// REST adds services' read APIs to the REST front door under /v1/.
	REST []RESTService
	// PublicPaths are REST paths served without the admin token (e.g. the email
	// verification link a user opens).
	PublicPaths []string
	// NoDispatcher runs the gateway without deliveries (ingest only).
	NoDispatcher bool
}

// RESTService is one service's grpc-gateway registration and its connection.
type RESTService struct {
	Register restgw.RegisterFunc
	Conn     *grpc.ClientConn
}

// Gateway is a configured gateway; Run serves it.
type Gateway struct {
	cfg    Config
	logger *slog.Logger
	tp     trace.TracerProvider
	sched  *scheduler.Scheduler
	file   *config.File
	log    *eventlog.Log
	disp   dispatcher // nil without subscriptions

	httpLis, adminLis, grpcLis net.Listener
	httpSrv, adminSrv          *http.Server
	grpcSrv                    *grpcserver.Server
	grpcConn                   *grpc.ClientConn

	closeOnce sync.Once
}

// New loads the config, opens the event log and prepares every listener; nothing is
// served until Run. On error everything opened so far is closed.
func New(ctx context.Context, cfg Config, deps Deps) (_ *Gateway, err error) {
	cfg, deps = withDefaults(cfg, deps)
	g := &Gateway{cfg: cfg, logger: deps.Logger, tp: deps.TracerProvider}
	defer func() {
		if err != nil {
			g.close()
		}
	}()
	w, err := g.loadConfig(deps)
	if err != nil {
		return nil, err
	}
	// Listeners first: a refused admin listener must not leave a log behind.
	if err := g.listen(deps); err != nil {
		return nil, err
	}
	if err := g.openLog(ctx, deps); err != nil {
		return nil, err
	}
	// Every append (webhooks, published follow-up events, schedules) gets a
	// producer span and the append metrics.
	appends, err := newObservedLog(g.log, g.tp, registerer(deps.Registry))
	if err != nil {
		return nil, err
	}
	if err := g.dialSelf(w.selfCreds); err != nil {
		return nil, err
	}
	d, err := g.buildDispatcher(ctx, deps)
	if err != nil {
		return nil, err
	}
	if err := g.buildScheduler(ctx, deps, appends); err != nil {
		return nil, err
	}
	if err := g.buildGRPC(deps, w, appends, d); err != nil {
		return nil, err
	}
	if err := g.buildHTTP(deps, w, appends); err != nil {
		return nil, err
	}
	return g, nil
}

// withDefaults fills what Config's env defaults fill when the caller built cfg
// by hand.
func withDefaults(cfg Config, deps Deps) (Config, Deps) {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.TracerProvider == nil {
		deps.TracerProvider = noop.NewTracerProvider()
	}
	if cfg.HTTPAddr == "" && deps.HTTPListener == nil {
		cfg.HTTPAddr = "127.0.0.1:8090"
	}
	if cfg.DataDir == "" && cfg.NATSURL == "" {
		cfg.DataDir = envconfig.DefaultDataDir
	}
	return cfg, deps
}

// wiring is what the config file resolves to before anything is opened.
type wiring struct {
	routes    []ingest.Route
	access    config.Access
	grpcOpts  []grpc.ServerOption
	selfCreds grpc.DialOption
}

// loadConfig reads the config file (unless Deps.File gives it) and resolves its
// sources, access rules and the gRPC API's TLS.
func (g *Gateway) loadConfig(deps Deps) (w wiring, err error) {
	g.file = deps.File
	if g.file == nil {
		if g.file, err = config.Load(g.cfg.ConfigFile); err != nil {
			return w, err
		}
	}
	if w.routes, err = ingest.Routes(g.file, deps.Secrets); err != nil {
		return w, fmt.Errorf("sources: %w", err)
	}
	if w.access, err = g.file.Access(deps.Secrets); err != nil {
		return w, err
	}
	if w.grpcOpts, err = grpcServerOptions(g.cfg, w.access); err != nil {
		return w, fmt.Errorf("grpc api: %w", err)
	}
	if w.selfCreds, err = g.cfg.GRPCTLS.SelfDial(); err != nil {
		return w, fmt.Errorf("grpc api: %w", err)
	}
	return w, nil
}

// listen opens the HTTP, admin and gRPC listeners and refuses any off loopback
// without an admin token.
func (g *Gateway) listen(deps Deps) (err error) {
	cfg := g.cfg
	if g.httpLis, err = listen(deps.HTTPListener, cfg.HTTPAddr); err != nil {
		return err
	}
	restLis := g.httpLis
	if cfg.AdminAddr != "" {
		if g.adminLis, err = listen(nil, cfg.AdminAddr); err != nil {
			return err
		}
		restLis = g.adminLis
	}
	if cfg.AdminToken == "" && !isLoopback(restLis.Addr()) {
		return fmt.Errorf("the REST API listens on %s, which is not loopback: set HOOKMESH_ADMIN_TOKEN", restLis.Addr())
	}
	// The gRPC API (admin, publisher, the gateway's own health consumer) listens
	// before the dispatcher starts, which may deliver to builtin:gateway.
	if g.grpcLis, err = listen(deps.GRPCListener, "127.0.0.1:0"); err != nil {
		return fmt.Errorf("grpc listener: %w", err)
	}
	if cfg.AdminToken == "" && !isLoopback(g.grpcLis.Addr()) {
		return fmt.Errorf("the gRPC API listens on %s (HOOKMESH_GRPC_ADDR), which is not loopback: set HOOKMESH_ADMIN_TOKEN", g.grpcLis.Addr())
	}
	return checkTokenLength(cfg.AdminToken, restLis.Addr(), g.grpcLis.Addr())
}

// openLog opens the event log with the config file's log settings.
func (g *Gateway) openLog(ctx context.Context, deps Deps) (err error) {
	logCfg := eventlog.Config{
		DataDir:       g.cfg.DataDir,
		URL:           g.cfg.NATSURL,
		Replicas:      g.file.Log.Replicas,
		MaxAge:        g.file.Log.MaxAge.Std(),
		MaxBytes:      int64(g.file.Log.MaxBytes),
		Sync:          g.file.Log.Sync,
		DedupeHorizon: g.file.Log.DedupeHorizon.Std(),
		MaxBodyBytes:  g.file.MaxBodyBytes(),
	}
	if need := eventlog.RequiredPayload(logCfg.MaxBodyBytes); need > int64(eventlog.DefaultMaxPayload) {
		logCfg.MaxPayload = int32(need)
	}
	if g.log, err = eventlog.Open(ctx, logCfg, deps.Logger.With("part", "eventlog")); err != nil {
		return fmt.Errorf("open event log: %w", err)
	}
	return nil
}

// dialSelf connects to the gateway's own gRPC API, traced like any other gRPC hop
// (REST calls, deliveries to builtin:gateway). It sends the token itself: REST
// and the console have checked their caller.
func (g *Gateway) dialSelf(creds grpc.DialOption) (err error) {
	if g.grpcConn, err = grpc.NewClient(g.grpcLis.Addr().String(), creds,
		grpcauth.WithBearer(g.cfg.AdminToken),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(g.tp), otelgrpc.WithPropagators(ingest.Propagator()),
			otelgrpc.WithFilter(filters.Not(filters.HealthCheck()))))); err != nil {
		return fmt.Errorf("admin grpc client: %w", err)
	}
	return nil
}

// buildDispatcher builds the dispatcher when the config has subscriptions;
// nil without (or with Deps.NoDispatcher).
func (g *Gateway) buildDispatcher(ctx context.Context, deps Deps) (*dispatch.Dispatcher, error) {
	if deps.NoDispatcher || len(g.file.Subscriptions) == 0 {
		return nil, nil
	}
	d, err := g.newDispatcher(ctx, deps)
	if err != nil {
		return nil, err
	}
	g.disp = d
	return d, nil
}

// buildScheduler builds the gateway's own scheduler: cron.<name> ticks and
// one-off scheduled.<name> events, once per tick across gateways.
// cron.health-check reaches the gateway through its builtin:gateway
// subscription, so no tick hooks are needed.
func (g *Gateway) buildScheduler(ctx context.Context, deps Deps, appends *observedLog) (err error) {
	if g.sched, err = scheduler.New(ctx, scheduler.Config{
		Log:            appends,
		JS:             g.log.JetStream(),
		Schedules:      scheduler.FromConfig(g.file.Schedules),
		TracerProvider: g.tp,
		Logger:         deps.Logger.With("part", "scheduler"),
		Registerer:     registerer(deps.Registry),
		Replicas:       max(g.file.Log.Replicas, 1),
	}); err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	return nil
}

// buildGRPC builds the gateway's gRPC API: AdminService, PublisherService and the
// health consumer behind builtin:gateway. With a token every service but health
// (container probes) needs it, the health consumer too: the dispatcher reaches
// builtin:gateway through g.grpcConn.
func (g *Gateway) buildGRPC(deps Deps, w wiring, appends *observedLog, d *dispatch.Dispatcher) (err error) {
	adminCfg := admin.Config{Events: g.log, Schedules: g.sched, Logger: deps.Logger.With("part", "admin")}
	if d != nil {
		adminCfg.Deliveries, _ = any(d).(admin.Deliveries)
		adminCfg.DeadLetters, _ = any(d).(admin.DeadLetters)
		adminCfg.Replays, _ = any(d).(admin.Replays)
		adminCfg.Subscriptions, _ = any(d).(admin.Subscriptions)
	}
	svc, err := admin.New(adminCfg)
	if err != nil {
		return err
	}
	grpcCfg := grpcserver.Config{TracerProvider: g.tp, Logger: deps.Logger.With("part", "admin-grpc"), Options: w.grpcOpts}
	if g.grpcSrv, err = grpcserver.New(grpcCfg); err != nil {
		return fmt.Errorf("admin grpc server: %w", err)
	}
	adminv1.RegisterAdminServiceServer(g.grpcSrv.GRPC(), svc)
	pub, err := publish.New(publish.Config{Log: appends, Logger: deps.Logger.With("part", "publish"), Restricted: restrictedPublishers(w.access)})
	if err != nil {
		return err
	}
	eventv1.RegisterPublisherServiceServer(g.grpcSrv.GRPC(), pub)
	consumerv1.RegisterEventConsumerServiceServer(g.grpcSrv.GRPC(), &healthConsumer{log: g.log, disp: d})
	return nil
}

// buildHTTP builds the webhook server and, with an admin listener, the admin
// server: REST (through g.grpcConn), the console, /metrics and Deps.Mount.
func (g *Gateway) buildHTTP(deps Deps, w wiring, appends *observedLog) error {
	cfg := g.cfg
	hooks, err := ingest.New(ingest.Config{
		Routes:         w.routes,
		Log:            appends,
		TracerProvider: g.tp,
		Logger:         deps.Logger.With("part", "ingest"),
		Metrics:        registerer(deps.Registry),

		MaxBodiesInFlight: cfg.MaxBodiesInFlight,
	})
	if err != nil {
		return err
	}
	// The REST API reaches AdminService through a real gRPC connection on loopback.
	rest, err := restHandler(g.grpcConn, cfg.AdminToken, deps.REST, deps.PublicPaths)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/hooks/{source}", hooks)
	mux.Handle("/hooks/", hooks) // deeper or empty paths: a JSON unknown_source, not a text 404
	g.handleHealth(mux)
	adminMux := mux
	if g.adminLis != nil {
		adminMux = http.NewServeMux()
		g.handleHealth(adminMux)
	}
	restLis := g.httpLis
	if g.adminLis != nil {
		restLis = g.adminLis
	}
	adminMux.Handle("GET /metrics", metricsAuth(cfg.AdminToken, restLis.Addr(), metricsHandler(deps)))
	// The console's session cookie stands in for the bearer header (same-origin only).
	adminMux.Handle("/v1/", console.Auth(cfg.AdminToken)(rest))
	adminMux.Handle("GET /v1/schemas", console.Auth(cfg.AdminToken)(withToken(cfg.AdminToken, catalog.New(g.file))))
	ce := withToken(cfg.AdminToken, cloudevents.Handler{Admin: adminv1.NewAdminServiceClient(g.grpcConn)})
	adminMux.Handle("GET /v1/events/{id}", console.Auth(cfg.AdminToken)(cloudevents.Route(ce, rest)))
	cons, err := console.New(console.Config{Token: cfg.AdminToken, PublicURL: cfg.PublicURL, Log: g.log, Logger: deps.Logger.With("part", "console")})
	if err != nil {
		return err
	}
	cons.Mount(adminMux)
	if deps.Mount != nil {
		deps.Mount(adminMux)
	}
	// Timeouts: platform/httpserver's defaults; webhooks set their source's body deadline.
	g.httpSrv = &http.Server{Handler: guardAdmin(cfg.AllowedHosts, deps.PublicPaths, mux)}
	if g.adminLis != nil {
		g.adminSrv = &http.Server{Handler: guardAdmin(cfg.AllowedHosts, deps.PublicPaths, adminMux)}
		g.adminSrv.RegisterOnShutdown(cons.Close) // end live streams so Shutdown need not wait
	} else {
		g.httpSrv.RegisterOnShutdown(cons.Close)
	}
	return nil
}

func (g *Gateway) handleHealth(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeStatus(w, http.StatusOK, "ok", "") })
	mux.HandleFunc("GET /readyz", g.ready)
}

// metricsHandler serves Deps.Gatherer, else Deps.Registry, else 404.
func metricsHandler(deps Deps) http.Handler {
	switch {
	case deps.Gatherer != nil:
		return promHandler(deps.Gatherer)
	case deps.Registry != nil:
		return promHandler(deps.Registry)
	}
	return http.NotFoundHandler()
}

// HTTPAddr is the address webhooks are served on.
func (g *Gateway) HTTPAddr() string { return g.httpLis.Addr().String() }

// AdminAddr is the address of the REST API (HTTPAddr when no admin listener is set).
func (g *Gateway) AdminAddr() string {
	if g.adminLis != nil {
		return g.adminLis.Addr().String()
	}
	return g.HTTPAddr()
}

// GRPCAddr is the address of the gateway's gRPC API (AdminService, PublisherService).
func (g *Gateway) GRPCAddr() string { return g.grpcLis.Addr().String() }

// Log is the gateway's event log (for in-process publishers and tests).
func (g *Gateway) Log() *eventlog.Log { return g.log }

// Run serves until ctx ends, then shuts down in order: HTTP (no new webhooks, in-flight
// ones answered), the scheduler, the dispatcher, the admin gRPC server, the event log.
func (g *Gateway) Run(ctx context.Context) error {
	defer g.close()
	if g.disp != nil {
		if err := g.disp.Start(ctx); err != nil {
			return fmt.Errorf("start dispatcher: %w", err)
		}
	}
	schedDone := make(chan error, 1)
	schedCtx, stopSched := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSched()
	if g.sched != nil {
		go func() { schedDone <- g.sched.Run(schedCtx) }()
	} else {
		schedDone <- nil
	}
	grpcCtx, stopGRPC := context.WithCancel(context.WithoutCancel(ctx))
	grpcDone := make(chan error, 1)
	go func() { grpcDone <- g.grpcSrv.Serve(grpcCtx, g.grpcLis) }()

	eg, egCtx := errgroup.WithContext(ctx)
	eg.Go(func() error { return httpserver.Serve(egCtx, g.httpSrv, g.httpLis) })
	if g.adminSrv != nil {
		eg.Go(func() error { return httpserver.Serve(egCtx, g.adminSrv, g.adminLis) })
	}
	g.logger.InfoContext(ctx, "gateway serving", "http", g.HTTPAddr(), "admin", g.AdminAddr())
	var errs []error
	if err := eg.Wait(); err != nil {
		errs = append(errs, err)
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	// The scheduler stops before the dispatcher and the log it appends to.
	stopSched()
	if err := <-schedDone; err != nil {
		errs = append(errs, fmt.Errorf("scheduler: %w", err))
	}
	if g.disp != nil {
		if err := g.disp.Stop(stopCtx); err != nil {
			errs = append(errs, fmt.Errorf("stop dispatcher: %w", err))
		}
	}
	stopGRPC()
	if err := <-grpcDone; err != nil {
		errs = append(errs, err)
	}
	if err := g.log.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close event log: %w", err))
	}
	g.logger.InfoContext(ctx, "gateway stopped")
	return errors.Join(errs...)
}

// Close releases a gateway that was never Run (Run closes everything itself).
func (g *Gateway) Close() { g.close() }

// close releases what New opened; Run's orderly shutdown comes first when it ran.
func (g *Gateway) close() {
	g.closeOnce.Do(func() {
		for _, l := range []net.Listener{g.httpLis, g.adminLis, g.grpcLis} {
			if l != nil {
				_ = l.Close()
			}
		}
		if g.grpcConn != nil {
			_ = g.grpcConn.Close()
		}
		if g.log != nil {
			_ = g.log.Close()
		}
	})
}

// ready answers whether the log takes writes (not whether consumers are up: a down
// service must not pull gateways out of a load balancer).
func (g *Gateway) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := g.log.Ready(ctx); err != nil {
		writeStatus(w, http.StatusServiceUnavailable, "unavailable", "the event log does not take writes")
		return
	}
	writeStatus(w, http.StatusOK, "ready", "")
}

func writeStatus(w http.ResponseWriter, code int, status, reason string) {
	w.Header().Set("Content-Type", "application/json")
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(code)
	body := map[string]string{"status": status}
	if reason != "" {
		body["reason"] = reason
	}
	b, _ := json.Marshal(body)
	_, _ = w.Write(append(b, '\n'))
}

func listen(given net.Listener, addr string) (net.Listener, error) {
	if given != nil {
		return given, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return l, nil
}

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

func registerer(r *prometheus.Registry) prometheus.Registerer {
	if r == nil {
		return nil
	}
	return r
}
