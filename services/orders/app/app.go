package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	ordersv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/orders/v1"
	"github.com/hookmesh/hookmesh/platform/groupcommit"
	"github.com/hookmesh/hookmesh/platform/grpcauth"
	"github.com/hookmesh/hookmesh/platform/pendingwork"
	"github.com/hookmesh/hookmesh/platform/sqlstore"
	"github.com/hookmesh/hookmesh/services/orders/internal/fulfillment"
	"github.com/hookmesh/hookmesh/services/orders/internal/grpcapi"
	"github.com/hookmesh/hookmesh/services/orders/internal/orders"
	"github.com/hookmesh/hookmesh/services/orders/internal/outbox"
	"github.com/hookmesh/hookmesh/services/orders/internal/publish"
	"github.com/hookmesh/hookmesh/services/orders/internal/store"
)

// Deps are what the host process shares with the service.
type Deps struct {
	// TracerProvider for the service's spans. Default: the global provider.
	TracerProvider trace.TracerProvider
	// Logger, JSON. Default: slog.Default().
	Logger *slog.Logger
	// Publisher is the gateway's PublisherService. When nil, New dials PUBLISHER_ADDR
	// with PUBLISHER_TOKEN.
	Publisher eventv1.PublisherServiceClient
	// Registerer receives the service's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Service is the wired orders service.
type Service struct {
	cfg       Config
	logger    *slog.Logger
	db        *sqlstore.DB
	store     *store.Store
	consumer  *grpcapi.Consumer
	read      *grpcapi.Orders
	publisher *publish.Publisher
	sender    *fulfillment.Sender // nil without FULFILLMENT_WEBHOOK_URL
	pubConn   *grpc.ClientConn    // dialled by New, closed by Close

	mu      sync.Mutex
	cancel  context.CancelFunc
	workers sync.WaitGroup
	closed  bool
}

// New opens the store (migrating it), loads the demo catalogue when configured,
// and builds the servers and outbox workers. Call Start to run the workers.
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

	sc := sqlstore.Config{URL: cfg.databaseURL(), SQLitePath: cfg.sqlitePath(), Migrations: store.Migrations}
	if sc.URL != "" {
		sc.Schema = cfg.DatabaseSchema
	}
	if s.db, err = sqlstore.Open(ctx, sc); err != nil {
		return nil, fmt.Errorf("open orders store: %w", err)
	}
	s.store = store.New(s.db, nil)
	tracer := deps.TracerProvider.Tracer("github.com/hookmesh/hookmesh/services/orders")
	group, err := s.db.Group(groupcommit.Config{Tracer: tracer, Logger: deps.Logger})
	if err != nil {
		return nil, err
	}
	s.store.GroupCommit(group)

	pub := deps.Publisher
	if pub == nil {
		if cfg.PublisherAddr == "" {
			return nil, errors.New("orders: PUBLISHER_ADDR is required (the gateway's PublisherService) when no publisher is passed in")
		}
		creds, err := cfg.publisherCreds()
		if err != nil {
			return nil, err
		}
		s.pubConn, err = grpc.NewClient(cfg.PublisherAddr, creds,
			grpcauth.WithBearer(cfg.PublisherToken),
			grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(deps.TracerProvider))))
		if err != nil {
			return nil, fmt.Errorf("dial publisher: %w", err)
		}
		pub = eventv1.NewPublisherServiceClient(s.pubConn)
	}
	if s.publisher, err = publish.New(publish.Config{Client: pub, TracerProvider: deps.TracerProvider, Logger: deps.Logger}, s.store); err != nil {
		return nil, err
	}
	if cfg.FulfillmentWebhookURL != "" {
		s.sender, err = fulfillment.New(fulfillment.Config{
			URL: cfg.FulfillmentWebhookURL, Secret: cfg.FulfillmentWebhookSecret,
			MaxAttempts:    cfg.FulfillmentMaxAttempts,
			Backoff:        outbox.Backoff{Initial: cfg.FulfillmentBackoffInitial, Max: cfg.FulfillmentBackoffMax},
			TracerProvider: deps.TracerProvider, Logger: deps.Logger,
		}, s.store)
		if err != nil {
			return nil, err
		}
	} else {
		deps.Logger.WarnContext(ctx, "FULFILLMENT_WEBHOOK_URL is not set: fulfillment notifications stay pending until it is")
	}

	if err := pendingwork.Register(deps.Registerer, "orders",
		pendingwork.Queue{Name: "publish", Pending: s.store.PendingFacts},
		pendingwork.Queue{Name: "fulfillment", Pending: s.store.PendingNotifications}); err != nil {
		return nil, fmt.Errorf("register orders metrics: %w", err)
	}
	var domainStore orders.Store = s.store
	if deps.Registerer != nil {
		if domainStore, err = newCountingStore(s.store, deps.Registerer); err != nil {
			return nil, err
		}
	}
	domain, err := orders.NewService(orders.ServiceConfig{Store: domainStore, Wake: s.wake, Logger: deps.Logger})
	if err != nil {
		return nil, err
	}
	if s.consumer, err = grpcapi.NewConsumer(domain, tracer, deps.Logger); err != nil {
		return nil, err
	}
	if s.read, err = grpcapi.NewOrders(s.store, deps.Logger); err != nil {
		return nil, err
	}

	seed, _ := cfg.seed() // validated above
	if seed {
		loaded, err := s.store.SeedStock(ctx, catalogueMarker, Catalogue)
		if err != nil {
			return nil, fmt.Errorf("load demo catalogue: %w", err)
		}
		if loaded {
			deps.Logger.InfoContext(ctx, "demo catalogue loaded", "skus", len(Catalogue))
		}
	}
	return s, nil
}

func (s *Service) wake() {
	s.publisher.Wake()
	if s.sender != nil {
		s.sender.Wake()
	}
}

// Register adds EventConsumerService and OrdersService to a gRPC server.
func (s *Service) Register(srv *grpc.Server) {
	consumerv1.RegisterEventConsumerServiceServer(srv, s.consumer)
	ordersv1.RegisterOrdersServiceServer(srv, s.read)
}

// RegisterGateway adds the REST mappings of OrdersService (/v1/orders/...) to mux,
// calling the service through conn.
func (s *Service) RegisterGateway(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	if err := ordersv1.RegisterOrdersServiceHandler(ctx, mux, conn); err != nil {
		return fmt.Errorf("register orders gateway: %w", err)
	}
	return nil
}

// Start runs the outbox workers (publisher, fulfillment sender) until ctx ends or
// Close is called. Rows written before a restart are sent after it.
func (s *Service) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.cancel != nil {
		return
	}
	ctx, s.cancel = context.WithCancel(ctx)
	run := func(name string, fn func(context.Context) error) {
		s.workers.Go(func() {
			if err := fn(ctx); err != nil {
				s.logger.ErrorContext(ctx, "outbox worker stopped", "worker", name, "error", err.Error())
			}
		})
	}
	run("publish", s.publisher.Run)
	if s.sender != nil {
		run("fulfillment", s.sender.Run)
	}
}

// Ready reports whether the store answers.
func (s *Service) Ready(ctx context.Context) error { return s.store.Ping(ctx) }

// Close stops the workers and closes the store and the publisher connection.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.workers.Wait()
	var errs []error
	if s.pubConn != nil {
		errs = append(errs, s.pubConn.Close())
	}
	if s.db != nil {
		errs = append(errs, s.db.Close())
	}
	return errors.Join(errs...)
}
