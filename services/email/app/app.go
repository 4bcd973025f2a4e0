package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	analyticsv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/analytics/v1"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	emailv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/email/v1"
	"github.com/hookmesh/hookmesh/platform/groupcommit"
	"github.com/hookmesh/hookmesh/platform/grpcauth"
	"github.com/hookmesh/hookmesh/platform/pendingwork"
	"github.com/hookmesh/hookmesh/platform/sqlstore"
	"github.com/hookmesh/hookmesh/services/email/internal/analytics"
	"github.com/hookmesh/hookmesh/services/email/internal/compose"
	"github.com/hookmesh/hookmesh/services/email/internal/email"
	"github.com/hookmesh/hookmesh/services/email/internal/grpcapi"
	"github.com/hookmesh/hookmesh/services/email/internal/outbox"
	"github.com/hookmesh/hookmesh/services/email/internal/smtp"
	"github.com/hookmesh/hookmesh/services/email/internal/store"
)

// Deps are what the host process shares with the service.
type Deps struct {
	// TracerProvider for the service's spans. Default: the global provider.
	TracerProvider trace.TracerProvider
	// Propagators carry the trace on the calls to analytics. Default: the global one.
	Propagators propagation.TextMapPropagator
	// Logger, JSON. Default: slog.Default().
	Logger *slog.Logger
	// Registerer receives the service's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Analytics fetches report figures. When nil, New dials ANALYTICS_ADDR if
	// set; otherwise report events fail with FAILED_PRECONDITION.
	Analytics analyticsv1.AnalyticsServiceClient
}

// Service is the wired email service.
type Service struct {
	cfg      Config
	logger   *slog.Logger
	db       *sqlstore.DB
	store    *store.Store
	svc      *email.Service
	consumer *grpcapi.Consumer
	api      *grpcapi.API
	// Transport is "smtp" or "outbox".
	transport string
	smtp      *smtp.Transport  // nil with the outbox; its idle connections close with the service
	conn      *grpc.ClientConn // analytics, dialled by New
}

// New opens (and migrates) the store, picks the transport and builds the
// servers. Close releases what it opened.
func New(ctx context.Context, cfg Config, deps Deps) (_ *Service, err error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.TracerProvider == nil {
		deps.TracerProvider = otel.GetTracerProvider()
	}
	if deps.Propagators == nil {
		deps.Propagators = otel.GetTextMapPropagator()
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	s := &Service{cfg: cfg, logger: deps.Logger}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()

	sc := sqlstore.Config{URL: cfg.databaseURL(), SQLitePath: cfg.sqlitePath(), Migrations: store.Migrations}
	if sc.URL != "" {
		sc.Schema = cfg.DatabaseSchema
	}
	if s.db, err = sqlstore.Open(ctx, sc); err != nil {
		return nil, fmt.Errorf("open email store: %w", err)
	}
	s.store = store.New(s.db)
	group, err := s.db.Group(groupcommit.Config{Tracer: deps.TracerProvider.Tracer("github.com/hookmesh/hookmesh/services/email"), Logger: deps.Logger})
	if err != nil {
		return nil, err
	}
	s.store.GroupCommit(group)
	if err := pendingwork.Register(deps.Registerer, "email", pendingwork.Queue{Name: "send", Pending: s.store.PendingSends}); err != nil {
		return nil, fmt.Errorf("register email metrics: %w", err)
	}

	secret := []byte(cfg.TokenSecret)
	if len(secret) == 0 {
		if secret, err = loadOrCreateSecret(cfg.secretPath()); err != nil {
			return nil, err
		}
	}
	tokens, err := email.NewTokens(secret, cfg.TokenTTL)
	if err != nil {
		return nil, fmt.Errorf("EMAIL_TOKEN_SECRET: %w", err)
	}

	var tr email.Transport
	if cfg.SMTPURL != "" {
		scfg, err := smtp.ParseURL(cfg.SMTPURL)
		if err != nil {
			return nil, errors.New("SMTP_URL is not a valid smtp:// or smtps:// URL")
		}
		st, err := smtp.New(scfg)
		if err != nil {
			return nil, fmt.Errorf("SMTP_URL: %w", err)
		}
		tr, s.smtp = st, st
	} else if tr, err = outbox.New(outbox.Config{Dir: cfg.outboxDir()}); err != nil {
		return nil, err
	}
	s.transport = tr.Name()
	tr = newTracingTransport(tr, deps.TracerProvider)
	if deps.Registerer != nil {
		if tr, err = newCountingTransport(tr, deps.Registerer); err != nil {
			return nil, err
		}
	}

	client := deps.Analytics
	if client == nil && cfg.AnalyticsAddr != "" {
		creds, err := cfg.analyticsCreds()
		if err != nil {
			return nil, err
		}
		s.conn, err = grpc.NewClient(cfg.AnalyticsAddr, creds, grpcauth.WithBearer(cfg.AnalyticsToken),
			grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(deps.TracerProvider), otelgrpc.WithPropagators(deps.Propagators))))
		if err != nil {
			return nil, fmt.Errorf("dial ANALYTICS_ADDR: %w", err)
		}
		client = analyticsv1.NewAnalyticsServiceClient(s.conn)
	}
	var reports email.ReportSource
	if client != nil {
		reports = analytics.New(client)
	}

	from, _ := cfg.from()
	recipients, _ := cfg.recipients()
	renderer, err := compose.New()
	if err != nil {
		return nil, err
	}
	s.svc, err = email.NewService(email.Config{
		From: from,
		Planner: &email.Planner{
			PublicURL: cfg.PublicURL, Tokens: tokens, ReportRecipients: recipients, Reports: reports,
		},
		Renderer: renderer, Store: s.store, Transport: tr, Lease: cfg.SendLease, Logger: deps.Logger,
	})
	if err != nil {
		return nil, err
	}
	s.consumer = grpcapi.NewConsumer(s.svc, deps.TracerProvider.Tracer("github.com/hookmesh/hookmesh/services/email"), deps.Logger)
	s.api = grpcapi.NewAPI(s.svc, deps.Logger)
	deps.Logger.InfoContext(ctx, "email service ready", "transport", s.transport, "database", s.db.Dialect().Name(),
		"reports", reports != nil, "report_recipients", len(recipients))
	return s, nil
}

// Register adds EventConsumerService and EmailService to g.
func (s *Service) Register(g *grpc.Server) {
	consumerv1.RegisterEventConsumerServiceServer(g, s.consumer)
	emailv1.RegisterEmailServiceServer(g, s.api)
}

// RegisterGateway adds the REST mappings of EmailService (/v1/email/...) to
// mux, calling the service through conn so interceptors and tracing run.
func (s *Service) RegisterGateway(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	if err := emailv1.RegisterEmailServiceHandler(ctx, mux, conn); err != nil {
		return fmt.Errorf("register email REST handlers: %w", err)
	}
	return nil
}

// Ready reports whether the store answers.
func (s *Service) Ready(ctx context.Context) error { return s.db.Ping(ctx) }

// Transport is the transport in use: "smtp" or "outbox".
func (s *Service) Transport() string { return s.transport }

// OutboxDir is where the outbox writes .eml files (when Transport is "outbox").
func (s *Service) OutboxDir() string { return s.cfg.outboxDir() }

// Close closes the store and the analytics connection New dialled.
func (s *Service) Close() error {
	var errs []error
	if s.smtp != nil {
		errs = append(errs, s.smtp.Close())
	}
	if s.conn != nil {
		errs = append(errs, s.conn.Close())
	}
	if s.db != nil {
		errs = append(errs, s.db.Close())
	}
	return errors.Join(errs...)
}

// loadOrCreateSecret reads the embedded default's token secret, creating it
// (32 random bytes, hex, mode 0600) on first start.
func loadOrCreateSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		secret := []byte(strings.TrimSpace(string(b)))
		if len(secret) < 16 {
			return nil, fmt.Errorf("token secret file %s is too short; delete it to generate a new one", path)
		}
		return secret, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read token secret file: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("generate token secret: %w", err)
	}
	secret := []byte(hex.EncodeToString(raw[:]))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	// O_EXCL: when two processes start at once, the loser reads the winner's.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return loadOrCreateSecret(path)
	}
	if err != nil {
		return nil, fmt.Errorf("create token secret file: %w", err)
	}
	if _, err := f.Write(append(secret, '\n')); err != nil {
		f.Close()
		return nil, fmt.Errorf("write token secret file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write token secret file: %w", err)
	}
	return secret, nil
}
