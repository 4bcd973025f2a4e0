// Package mesh runs the whole hookmesh mesh in one process on the embedded default:
// the gateway (with its in-process NATS JetStream) and the email, analytics and
// orders services, each on a loopback port-0 gRPC server that the gateway's
// subscriptions reach as builtin:<name>. Only configuration differs from the
// distributed deployment.
package mesh

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hookmesh/hookmesh/gateway"
	analyticsv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/analytics/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/envconfig"
	"github.com/hookmesh/hookmesh/platform/grpcauth"
	"github.com/hookmesh/hookmesh/platform/grpcserver"
	"github.com/hookmesh/hookmesh/platform/logging"
	"github.com/hookmesh/hookmesh/platform/restgw"
	"github.com/hookmesh/hookmesh/platform/telemetry"
	analyticsapp "github.com/hookmesh/hookmesh/services/analytics/app"
	emailapp "github.com/hookmesh/hookmesh/services/email/app"
	ordersapp "github.com/hookmesh/hookmesh/services/orders/app"
)

// Config is the all-in-one process's environment: the gateway's and each service's
// own Config, loaded from the same environment names as the separate binaries.
type Config struct {
	Gateway   gateway.Config
	Email     emailapp.Config
	Analytics analyticsapp.Config
	Orders    ordersapp.Config
	// GRPCAddr is the gateway's gRPC API (AdminService, PublisherService,
	// reflection); empty picks a free loopback port.
	GRPCAddr string
	// PprofAddr, when set, serves net/http/pprof (opt-in; off loopback only with
	// the admin token).
	PprofAddr string
}

// own is the all-in-one process's own environment. HOOKMESH_GRPC_ADDR's
// default sits beside HOOKMESH_HTTP_ADDR's 8090.
type own struct {
	GRPCAddr  string `env:"HOOKMESH_GRPC_ADDR" default:"127.0.0.1:8091"`
	PprofAddr string `env:"HOOKMESH_PPROF_ADDR"`
}

// LoadConfig reads every component's Config from the environment.
func LoadConfig() (Config, error) {
	var cfg Config
	var self own
	for name, c := range map[string]any{"gateway": &cfg.Gateway, "email": &cfg.Email, "analytics": &cfg.Analytics, "orders": &cfg.Orders, "mesh": &self} {
		if err := envconfig.Load(c); err != nil {
			return Config{}, fmt.Errorf("%s config: %w", name, err)
		}
	}
	cfg.GRPCAddr, cfg.PprofAddr = self.GRPCAddr, self.PprofAddr
	return cfg, nil
}

// Options are the in-process seams of Run, for tests; the zero value is production.
type Options struct {
	// SpanExporter, when set, receives every component's spans synchronously.
	SpanExporter sdktrace.SpanExporter
	// HTTPListener replaces listening on Config.Gateway.HTTPAddr.
	HTTPListener net.Listener
	// Ready is called once everything serves.
	Ready func(*Mesh)
	// LogOutput receives every component's JSON log lines (default os.Stderr).
	LogOutput io.Writer
}

// Mesh is a running all-in-one process.
type Mesh struct {
	Gateway *gateway.Gateway
	Email   *emailapp.Service
	// DataDir is where the embedded state lives.
	DataDir string
	// ServiceAddrs are the services' gRPC addresses by name; they require a
	// token generated for this process (health excepted).
	ServiceAddrs map[string]string
}

// Run starts the mesh and serves until ctx ends, then stops in order: HTTP, the
// dispatcher and the event log (gateway.Run), the services, telemetry.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	return RunWith(ctx, cfg, out, Options{})
}

// RunWith is Run with test seams.
func RunWith(ctx context.Context, cfg Config, out io.Writer, opts Options) (err error) {
	logOut := opts.LogOutput
	if logOut == nil {
		logOut = os.Stderr
	}
	logger := logging.New(logOut, "hookmesh")
	// One logger per component: its lines say component=<name> once.
	logFor := func(name string) *slog.Logger { return logging.New(logOut, name) }
	dataDir := cfg.Gateway.DataDir
	if dataDir == "" {
		dataDir = envconfig.DefaultDataDir
	}
	if abs, aerr := filepath.Abs(dataDir); aerr == nil {
		dataDir = abs
	}
	cfg.Gateway.DataDir = dataDir
	cfg.Email.DataDir, cfg.Analytics.DataDir, cfg.Orders.DataDir = dataDir, dataDir, dataDir
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}

	if cfg.PprofAddr != "" {
		lis, perr := listenPprof(cfg.PprofAddr, cfg.Gateway.AdminToken)
		if perr != nil {
			return perr
		}
		pctx, stopPprof := context.WithCancel(ctx)
		defer stopPprof()
		go servePprof(pctx, lis, cfg.Gateway.AdminToken, cfg.Gateway.AllowedHosts, logger)
		logger.InfoContext(ctx, "profiling listener", "addr", lis.Addr().String())
	}

	var generated []GeneratedSecret
	if cfg.Gateway.ConfigFile == "" {
		if generated, err = EnsureDemoSecrets(dataDir); err != nil {
			return err
		}
	}

	// One provider per component keeps service.name distinct in one process.
	tel := map[string]*telemetry.Provider{}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		for _, p := range tel {
			_ = p.Shutdown(sctx)
		}
	}()
	for _, name := range []string{"gateway", "email", "analytics", "orders"} {
		p, terr := telemetry.Setup(ctx, telemetry.Config{
			Component:          name,
			SpanExporter:       opts.SpanExporter,
			SkipRuntimeMetrics: name != "gateway",
			Logger:             logger,
		})
		if terr != nil {
			return fmt.Errorf("telemetry %s: %w", name, terr)
		}
		tel[name] = p
	}
	gatherers := prometheus.Gatherers{tel["gateway"].Registry, tel["email"].Registry, tel["analytics"].Registry, tel["orders"].Registry}

	// Services listen on loopback port 0; the gateway reaches them as builtin:<name>
	// with a token generated for this process, so the other users of the
	// machine cannot call them.
	serviceToken, err := newToken()
	if err != nil {
		return err
	}
	var servers []*served
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	serve := func(name string, register func(*grpc.Server)) (*served, error) {
		s, serr := startServer(ctx, name, tel[name], logFor(name), register, grpcauth.Require(serviceToken, healthpb.Health_ServiceDesc.ServiceName)...)
		if serr != nil {
			return nil, serr
		}
		servers = append(servers, s)
		return s, nil
	}

	analyticsCfg := cfg.Analytics
	analyticsCfg.HTTPAddr = ""
	analytics, err := analyticsapp.New(ctx, analyticsCfg, analyticsapp.Deps{
		TracerProvider: tel["analytics"].TracerProvider,
		Logger:         logFor("analytics"),
		Registerer:     tel["analytics"].Registry,
	})
	if err != nil {
		return fmt.Errorf("analytics: %w", err)
	}
	defer analytics.Close()
	analyticsSrv, err := serve("analytics", analytics.Register)
	if err != nil {
		return err
	}

	emailCfg := cfg.Email
	emailCfg.HTTPAddr = ""
	analyticsClient, err := dial(analyticsSrv.addr(), tel["email"], grpcauth.WithBearer(serviceToken))
	if err != nil {
		return err
	}
	defer analyticsClient.Close()
	email, err := emailapp.New(ctx, emailCfg, emailapp.Deps{
		TracerProvider: tel["email"].TracerProvider,
		Logger:         logFor("email"),
		Registerer:     tel["email"].Registry,
		Analytics:      analyticsv1.NewAnalyticsServiceClient(analyticsClient),
	})
	if err != nil {
		return fmt.Errorf("email: %w", err)
	}
	defer email.Close()
	emailSrv, err := serve("email", email.Register)
	if err != nil {
		return err
	}

	// The gateway's gRPC listener is bound before orders starts, so orders can
	// publish follow-up events into the same log with its publisher token.
	grpcAddr := cfg.GRPCAddr
	if grpcAddr == "" {
		grpcAddr = "127.0.0.1:0"
	}
	gwGRPC, err := net.Listen("tcp", grpcAddr)
	if err != nil {
		return fmt.Errorf("gateway grpc listener (HOOKMESH_GRPC_ADDR): %w", err)
	}
	pub, err := ordersPublisher(cfg)
	if err != nil {
		return err
	}
	publisherConn, err := dial(gwGRPC.Addr().String(), tel["orders"], grpcauth.WithBearer(pub.token))
	if err != nil {
		return err
	}
	defer publisherConn.Close()
	ordersCfg := cfg.Orders
	ordersCfg.HTTPAddr = ""
	if ordersCfg.FulfillmentWebhookURL == "" && cfg.Gateway.ConfigFile == "" {
		// Demo: fulfillment notifications come back as events through the
		// gateway's own Standard Webhooks source.
		ordersCfg.FulfillmentWebhookURL = "http://" + gatewayHTTPAddr(cfg, opts) + "/hooks/standard"
		ordersCfg.FulfillmentWebhookSecret = os.Getenv("STANDARD_WEBHOOK_SECRET")
	}
	orders, err := ordersapp.New(ctx, ordersCfg, ordersapp.Deps{
		TracerProvider: tel["orders"].TracerProvider,
		Logger:         logFor("orders"),
		Publisher:      eventv1.NewPublisherServiceClient(publisherConn),
		Registerer:     tel["orders"].Registry,
	})
	if err != nil {
		return fmt.Errorf("orders: %w", err)
	}
	defer orders.Close()
	ordersSrv, err := serve("orders", orders.Register)
	if err != nil {
		return err
	}

	builtins := map[string]*grpc.ClientConn{}
	for name, s := range map[string]*served{"email": emailSrv, "analytics": analyticsSrv, "orders": ordersSrv} {
		conn, derr := dial(s.addr(), tel["gateway"], grpcauth.WithBearer(serviceToken))
		if derr != nil {
			return derr
		}
		defer conn.Close()
		builtins[name] = conn
	}
	// The verification link opens a page (GET: a button, POST: confirm) in
	// front of the email REST API; GET alone changes nothing.
	verifyAPI, err := restgw.New(restgw.Config{Conn: builtins["email"], Register: []restgw.RegisterFunc{email.RegisterGateway}})
	if err != nil {
		return fmt.Errorf("email verify page: %w", err)
	}
	gw, err := gateway.New(ctx, cfg.Gateway, gateway.Deps{
		Mount:          func(mux *http.ServeMux) { mux.Handle(emailapp.VerifyPath, emailapp.VerifyPage(verifyAPI)) },
		Logger:         logFor("gateway"),
		TracerProvider: tel["gateway"].TracerProvider,
		Registry:       tel["gateway"].Registry,
		Gatherer:       gatherers,
		Secrets:        pub.secrets,
		HTTPListener:   opts.HTTPListener,
		GRPCListener:   gwGRPC,
		Builtins:       builtins,
		REST: []gateway.RESTService{
			{Register: email.RegisterGateway, Conn: builtins["email"]},
			{Register: analytics.RegisterGateway, Conn: builtins["analytics"]},
			{Register: orders.RegisterGateway, Conn: builtins["orders"]},
		},
		PublicPaths: []string{emailapp.VerifyPath},
	})
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}

	orders.Start(ctx)
	printBanner(out, gw, dataDir, generated, email)
	m := &Mesh{Gateway: gw, Email: email, DataDir: dataDir,
		ServiceAddrs: map[string]string{"email": emailSrv.addr(), "analytics": analyticsSrv.addr(), "orders": ordersSrv.addr()}}
	if opts.Ready != nil {
		opts.Ready(m)
	}
	logger.InfoContext(ctx, "mesh serving", "http", gw.HTTPAddr())
	return gw.Run(ctx)
}

func gatewayHTTPAddr(cfg Config, opts Options) string {
	if opts.HTTPListener != nil {
		return opts.HTTPListener.Addr().String()
	}
	if cfg.Gateway.HTTPAddr != "" {
		return cfg.Gateway.HTTPAddr
	}
	return "127.0.0.1:8090"
}

func printBanner(out io.Writer, gw *gateway.Gateway, dataDir string, generated []GeneratedSecret, email *emailapp.Service) {
	base := "http://" + gw.HTTPAddr()
	admin := "http://" + gw.AdminAddr()
	fmt.Fprintf(out, "hookmesh is running (data in %s)\n\n", dataDir)
	fmt.Fprintf(out, "  webhooks      %s/hooks/{hasura,stripe,github,shopify,slack,standard}\n", base)
	fmt.Fprintf(out, "  REST API      %s/v1/events\n", admin)
	fmt.Fprintf(out, "  console       %s/console\n", admin)
	fmt.Fprintf(out, "  metrics       %s/metrics\n", admin)
	fmt.Fprintf(out, "  health        %s/healthz  %s/readyz\n", base, base)
	fmt.Fprintf(out, "  gRPC API      %s  (reflection: grpcurl -plaintext %s list)\n", gw.GRPCAddr(), gw.GRPCAddr())
	if dir := email.OutboxDir(); email.Transport() == "outbox" {
		fmt.Fprintf(out, "  mail outbox   %s\n", dir)
	}
	if len(generated) > 0 {
		fmt.Fprintf(out, "\ndemo secrets (kept in %s; set the variable to choose your own):\n", filepath.Join(dataDir, "secrets"))
		for _, g := range generated {
			fmt.Fprintf(out, "  %-24s %s\n", g.Env, g.Value)
		}
	}
	fmt.Fprintln(out)
}

// served is one service's gRPC server on a loopback port-0 listener.
type served struct {
	lis    net.Listener
	cancel context.CancelFunc
	done   chan error
}

func (s *served) addr() string { return s.lis.Addr().String() }

func (s *served) stop() {
	s.cancel()
	<-s.done
}

func startServer(ctx context.Context, name string, tel *telemetry.Provider, logger *slog.Logger, register func(*grpc.Server), opts ...grpc.ServerOption) (*served, error) {
	srv, err := grpcserver.New(grpcserver.Config{TracerProvider: tel.TracerProvider, Logger: logger, Options: opts})
	if err != nil {
		return nil, fmt.Errorf("%s grpc server: %w", name, err)
	}
	register(srv.GRPC())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("%s listener: %w", name, err)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &served{lis: lis, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- srv.Serve(sctx, lis) }()
	return s, nil
}

// dial connects to a loopback gRPC server with the caller component's tracing.
func dial(addr string, tel *telemetry.Provider, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(addr, append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(tel.TracerProvider), otelgrpc.WithPropagators(telemetry.Propagator()))),
	}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return conn, nil
}
