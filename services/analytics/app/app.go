package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	analyticsv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/analytics/v1"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	"github.com/hookmesh/hookmesh/platform/groupcommit"
	"github.com/hookmesh/hookmesh/platform/sqlstore"
	"github.com/hookmesh/hookmesh/services/analytics/internal/analytics"
	"github.com/hookmesh/hookmesh/services/analytics/internal/grpcapi"
	"github.com/hookmesh/hookmesh/services/analytics/internal/store"

	_ "time/tzdata" // report time zones work on images without /usr/share/zoneinfo
)

const instrumentation = "github.com/hookmesh/hookmesh/services/analytics"

// closeTimeout bounds the final flush in Close.
const closeTimeout = 30 * time.Second

// Deps are what the host process shares with the service.
type Deps struct {
	// TracerProvider for the service's spans. Default: the global provider.
	TracerProvider trace.TracerProvider
	// Logger, JSON. Default: slog.Default().
	Logger *slog.Logger
	// Registerer receives the service's Prometheus metrics. Optional.
	Registerer prometheus.Registerer
}

// Service is the wired analytics service.
type Service struct {
	cfg       Config
	logger    *slog.Logger
	db        *sqlstore.DB
	store     *store.Store
	committer *groupcommit.Committer[analytics.Record]
	consumer  *grpcapi.Consumer
	api       *grpcapi.API
}

// New opens (and migrates) the store, starts the group committer and builds the
// servers. Close flushes and releases what it opened.
func New(ctx context.Context, cfg Config, deps Deps) (_ *Service, err error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.TracerProvider == nil {
		deps.TracerProvider = otel.GetTracerProvider()
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

	sc := sqlstore.Config{URL: cfg.databaseURL(), SQLitePath: cfg.sqlitePath(), Migrations: store.Migrations()}
	if sc.URL != "" {
		sc.Schema = cfg.DatabaseSchema
	}
	if s.db, err = sqlstore.Open(ctx, sc); err != nil {
		return nil, fmt.Errorf("open analytics store: %w", err)
	}
	if s.store, err = store.New(s.db); err != nil {
		return nil, err
	}
	tracer := deps.TracerProvider.Tracer(instrumentation)
	bc := groupcommit.Config{MaxBatch: cfg.BatchSize, FlushInterval: cfg.FlushInterval, Tracer: tracer, Logger: deps.Logger}
	if deps.Registerer != nil {
		m, err := newBatchMetrics(deps.Registerer)
		if err != nil {
			return nil, err
		}
		bc.Observe = m.observe
	}
	s.committer, err = groupcommit.New[analytics.Record](bc, s.store)
	if err != nil {
		return nil, err
	}
	var recorder grpcapi.Recorder = s.committer
	if deps.Registerer != nil {
		if recorder, err = newCountingRecorder(s.committer, deps.Registerer); err != nil {
			return nil, err
		}
	}
	tracker, err := analytics.NewTracker(analytics.TrackerConfig{Retention: cfg.Retention})
	if err != nil {
		return nil, fmt.Errorf("ANALYTICS_RETENTION: %w", err)
	}
	if s.consumer, err = grpcapi.NewConsumer(tracker, recorder, tracer, deps.Logger); err != nil {
		return nil, err
	}
	svc, err := analytics.NewService(analytics.ServiceConfig{Reader: s.store})
	if err != nil {
		return nil, err
	}
	if s.api, err = grpcapi.NewAPI(svc, deps.Logger); err != nil {
		return nil, err
	}
	deps.Logger.InfoContext(ctx, "analytics service ready", "database", s.db.Dialect().Name(),
		"batch_size", cfg.BatchSize, "flush_interval", cfg.FlushInterval.String(), "retention", cfg.Retention.String())
	return s, nil
}

// Register adds EventConsumerService and AnalyticsService to g.
func (s *Service) Register(g *grpc.Server) {
	consumerv1.RegisterEventConsumerServiceServer(g, s.consumer)
	analyticsv1.RegisterAnalyticsServiceServer(g, s.api)
}

// RegisterGateway adds the REST mappings of AnalyticsService (/v1/analytics/...)
// to mux, calling the service through conn so interceptors and tracing run.
func (s *Service) RegisterGateway(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	if err := analyticsv1.RegisterAnalyticsServiceHandler(ctx, mux, conn); err != nil {
		return fmt.Errorf("register analytics REST handlers: %w", err)
	}
	return nil
}

// Ready reports whether the store answers.
func (s *Service) Ready(ctx context.Context) error { return s.store.Ping(ctx) }

// Close commits every event already submitted (callers waiting on them get their
// answer), then closes the store. Stop the gRPC server first, so no new
// deliveries arrive; a delivery after Close is answered UNAVAILABLE.
func (s *Service) Close() error {
	var errs []error
	if s.committer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		errs = append(errs, s.committer.Close(ctx))
		cancel()
	}
	if s.db != nil {
		errs = append(errs, s.db.Close())
	}
	return errors.Join(errs...)
}
