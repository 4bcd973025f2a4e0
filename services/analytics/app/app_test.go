package app

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/analytics/v1"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/consumertest"
	"github.com/hookmesh/hookmesh/platform/grpcserver"
	"github.com/hookmesh/hookmesh/platform/grpcserver/grpcservertest"
	"github.com/hookmesh/hookmesh/platform/sqlstore/sqlstoretest"
)

func TestMain(m *testing.M) {
	// The crash test re-executes this binary as the service process.
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

// forEachDialect runs fn with a Config for a fresh SQLite data dir and, when
// HOOKMESH_TEST_DATABASE_URL is set, a fresh PostgreSQL schema.
func forEachDialect(t *testing.T, fn func(t *testing.T, cfg Config)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, Config{DataDir: t.TempDir()}) })
	t.Run("postgres", func(t *testing.T) { fn(t, postgresConfig(t)) })
}

func postgresConfig(t testing.TB) Config {
	t.Helper()
	url := sqlstoretest.PostgresURL(t)
	schema := sqlstoretest.NewSchemaName(t)
	t.Cleanup(func() { sqlstoretest.DropSchema(t, url, schema) })
	return Config{DatabaseURL: url, DatabaseSchema: schema, DataDir: t.TempDir()}
}

type harness struct {
	svc       *Service
	consumer  consumerv1.EventConsumerServiceClient
	analytics analyticsv1.AnalyticsServiceClient
	spans     *tracetest.InMemoryExporter
}

// start wires the service and serves it over real gRPC on loopback.
func start(t *testing.T, cfg Config) *harness {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	svc, err := New(t.Context(), cfg, Deps{TracerProvider: tp, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	// Registered first, so it runs after the server stopped (cleanups run LIFO).
	t.Cleanup(func() {
		if err := svc.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	conn := grpcservertest.MustStartWith(t, grpcserver.Config{TracerProvider: tp, Logger: slog.New(slog.DiscardHandler)},
		func(g *grpc.Server) { svc.Register(g) })
	return &harness{
		svc: svc, spans: exp,
		consumer:  consumerv1.NewEventConsumerServiceClient(conn),
		analytics: analyticsv1.NewAnalyticsServiceClient(conn),
	}
}

func (h *harness) deliver(t testing.TB, ev *eventv1.Event) codes.Code {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err := h.consumer.Deliver(ctx, &consumerv1.DeliverRequest{Event: ev, Subscription: "analytics", Attempt: 1})
	return status.Code(err)
}

// count sums the hourly counts of typ in [at-1h, at+1h).
func (h *harness) count(t testing.TB, typ string, at time.Time) int {
	t.Helper()
	resp, err := h.analytics.GetCounts(t.Context(), &analyticsv1.GetCountsRequest{
		Type: typ, Since: timestamppb.New(at.Add(-time.Hour)), Until: timestamppb.New(at.Add(time.Hour)),
	})
	if err != nil {
		t.Fatalf("GetCounts(%s): %v", typ, err)
	}
	n := 0
	for _, b := range resp.GetBuckets() {
		if b.GetType() == typ {
			n += int(b.GetCount())
		}
	}
	return n
}

var conformanceTime = time.Date(2026, 1, 5, 10, 30, 0, 0, time.UTC)

func TestConformance(t *testing.T) {
	forEachDialect(t, func(t *testing.T, cfg Config) {
		h := start(t, cfg)
		consumertest.Run(t, consumertest.Config{
			Client: h.consumer,
			// Each event has its own type, so its count is its effect.
			NewEvent: func(id string) *eventv1.Event {
				return &eventv1.Event{Id: id, Source: "conformance", Type: "test." + id, Time: timestamppb.New(conformanceTime)}
			},
			// A user registration without a user row can never be tracked.
			Invalid: &eventv1.Event{Id: "bad-1", Source: "hasura", Type: "hasura.public.users.insert", Time: timestamppb.New(conformanceTime),
				Payload: &eventv1.Event_HasuraTable{HasuraTable: &eventv1.HasuraTableEvent{Op: eventv1.HasuraOperation_HASURA_OPERATION_INSERT}}},
			Effects: func(t testing.TB, ev *eventv1.Event) int {
				return h.count(t, ev.GetType(), conformanceTime)
			},
		})
	})
}

// TestPoisonInBatchDeadLettersAlone fills one batch with healthy events and events
// the database refuses: each poison gets INVALID_ARGUMENT, the rest commit.
func TestPoisonInBatchDeadLettersAlone(t *testing.T) {
	forEachDialect(t, func(t *testing.T, cfg Config) {
		at := conformanceTime
		events := []*eventv1.Event{}
		for i := range 9 {
			events = append(events, &eventv1.Event{Id: "ok-" + string(rune('a'+i)), Source: "test", Type: "test.healthy", Time: timestamppb.New(at)})
		}
		poison := map[string]bool{"poison-long": true}
		// The schema refuses event types over 255 characters.
		events = append(events, &eventv1.Event{Id: "poison-long", Source: "test", Type: "test." + strings.Repeat("x", 300), Time: timestamppb.New(at)})
		if cfg.DatabaseURL != "" {
			// PostgreSQL text cannot hold NUL.
			poison["poison-nul"] = true
			events = append(events, &eventv1.Event{Id: "poison-nul", Source: "test", Type: "test.nul\x00", Time: timestamppb.New(at)})
		}
		// The batch is exactly as large as the load and an idle writer waits long
		// for it to fill, so every event goes into the same transaction.
		cfg.BatchSize, cfg.FlushInterval = len(events), time.Minute
		h := start(t, cfg)

		codesByID := make(map[string]codes.Code)
		var (
			mu sync.Mutex
			wg sync.WaitGroup
		)
		for _, ev := range events {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code := h.deliver(t, ev)
				mu.Lock()
				codesByID[ev.GetId()] = code
				mu.Unlock()
			}()
		}
		wg.Wait()
		for id, code := range codesByID {
			want := codes.OK
			if poison[id] {
				want = codes.InvalidArgument
			}
			if code != want {
				t.Errorf("%s: %v, want %v", id, code, want)
			}
		}
		if got := h.count(t, "test.healthy", at); got != 9 {
			t.Errorf("healthy events counted %d times, want 9", got)
		}
		var batches []int64
		for _, s := range h.spans.GetSpans() {
			if s.Name == "batch commit" {
				for _, a := range s.Attributes {
					if a.Key == attribute.Key("batch.size") {
						batches = append(batches, a.Value.AsInt64())
					}
				}
			}
		}
		if len(batches) != 1 || batches[0] != int64(len(events)) {
			t.Errorf("batches %v, want one of %d", batches, len(events))
		}
	})
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"batch too small", Config{BatchSize: -1, DataDir: "d"}, "ANALYTICS_BATCH_SIZE"},
		{"batch too large", Config{BatchSize: 20000, DataDir: "d"}, "ANALYTICS_BATCH_SIZE"},
		{"negative interval", Config{FlushInterval: -time.Second, DataDir: "d"}, "ANALYTICS_FLUSH_INTERVAL"},
		{"interval too long", Config{FlushInterval: time.Hour, DataDir: "d"}, "ANALYTICS_FLUSH_INTERVAL"},
		{"short retention", Config{Retention: time.Minute, DataDir: "d"}, "ANALYTICS_RETENTION"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.setDefaults()
			err := tc.cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v, want an error naming %s", err, tc.want)
			}
		})
	}
	var c Config
	c.setDefaults()
	if err := c.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if c.sqlitePath() != "hookmesh-data/analytics.db" || c.BatchSize != 256 || c.Retention != 90*24*time.Hour {
		t.Errorf("defaults = %+v", c)
	}
	c.SharedDatabaseURL = "postgres://shared"
	if c.databaseURL() != "postgres://shared" {
		t.Error("DATABASE_URL not used")
	}
	c.DatabaseURL = "postgres://own"
	if c.databaseURL() != "postgres://own" {
		t.Error("ANALYTICS_DATABASE_URL does not win over DATABASE_URL")
	}
}

func TestNewFailsOnUnreachableDatabase(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := New(ctx, Config{DatabaseURL: "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"}, Deps{Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		t.Fatal("New succeeded without a database")
	}
	if strings.Contains(err.Error(), "nobody@") {
		t.Errorf("error leaks the URL: %v", err)
	}
}

func TestDeliverAfterCloseIsRetried(t *testing.T) {
	svc, err := New(t.Context(), Config{DataDir: t.TempDir()}, Deps{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	conn := grpcservertest.MustStart(t, func(g *grpc.Server) { svc.Register(g) })
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = consumerv1.NewEventConsumerServiceClient(conn).Deliver(t.Context(), &consumerv1.DeliverRequest{
		Event: &eventv1.Event{Id: "1", Source: "s", Type: "t.x"},
	})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("Deliver after Close = %v, want UNAVAILABLE", err)
	}
}

func mustStruct(t testing.TB, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustValue(t testing.TB, v any) *structpb.Value {
	t.Helper()
	out, err := structpb.NewValue(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestNewRegistersMetricsOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	deps := Deps{Logger: slog.New(slog.DiscardHandler), Registerer: reg}
	svc, err := New(t.Context(), Config{DataDir: t.TempDir()}, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	// A second service on the same registry would report into the first's
	// series: refused, and nothing it opened stays open.
	if _, err := New(t.Context(), Config{DataDir: t.TempDir()}, deps); err == nil {
		t.Error("New registered duplicate metrics")
	}
}
