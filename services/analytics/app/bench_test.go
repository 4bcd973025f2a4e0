package app

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/grpcserver"
	"github.com/hookmesh/hookmesh/platform/grpcserver/grpcservertest"
	"github.com/hookmesh/hookmesh/services/analytics/internal/analytics"
	"github.com/hookmesh/hookmesh/services/analytics/internal/grpcapi"
	"github.com/hookmesh/hookmesh/services/analytics/internal/store"
)

// txPerEvent is the baseline: every delivery writes its own transaction, directly
// and concurrently (PostgreSQL runs them in parallel on its pool; SQLite queues
// them on its single writer).
type txPerEvent struct{ store *store.Store }

func (r txPerEvent) Submit(ctx context.Context, rec analytics.Record) error {
	res, err := r.store.Apply(ctx, []analytics.Record{rec})
	if err != nil {
		return err
	}
	return res[0]
}

// BenchmarkDeliver measures Deliver over real gRPC on loopback with many
// concurrent callers: the group committer against one transaction per event, in
// the same run, on SQLite and (with HOOKMESH_TEST_DATABASE_URL) PostgreSQL.
//
//	go test -run '^$' -bench Deliver -benchtime 3s ./app/
func BenchmarkDeliver(b *testing.B) {
	dialects := []struct {
		name string
		cfg  func(b *testing.B) Config
	}{
		{"sqlite", func(b *testing.B) Config { return Config{DataDir: b.TempDir()} }},
		{"postgres", func(b *testing.B) Config { return postgresConfig(b) }},
	}
	for _, d := range dialects {
		for _, mode := range []string{"group_commit", "tx_per_event"} {
			for _, callers := range []int{1, 64} {
				b.Run(fmt.Sprintf("%s/%s/callers=%d", d.name, mode, callers), func(b *testing.B) {
					benchDeliver(b, d.cfg(b), mode == "tx_per_event", callers)
				})
			}
		}
	}
}

func benchDeliver(b *testing.B, cfg Config, baseline bool, callers int) {
	logger := slog.New(slog.DiscardHandler)
	svc, err := New(b.Context(), cfg, Deps{TracerProvider: noop.NewTracerProvider(), Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = svc.Close() })
	consumer := svc.consumer
	if baseline {
		tracker, err := analytics.NewTracker(analytics.TrackerConfig{})
		if err != nil {
			b.Fatal(err)
		}
		consumer, err = grpcapi.NewConsumer(tracker, txPerEvent{svc.store}, noop.NewTracerProvider().Tracer(""), logger)
		if err != nil {
			b.Fatal(err)
		}
	}
	conn := grpcservertest.MustStartWith(b, grpcserver.Config{TracerProvider: noop.NewTracerProvider(), Logger: logger},
		func(g *grpc.Server) { consumerv1.RegisterEventConsumerServiceServer(g, consumer) })
	client := consumerv1.NewEventConsumerServiceClient(conn)
	at := timestamppb.New(time.Date(2026, 2, 2, 12, 0, 0, 0, time.UTC))
	var seq atomic.Int64

	b.ResetTimer()
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := seq.Add(1)
				if i > int64(b.N) {
					return
				}
				ev := &eventv1.Event{Id: "bench-" + strconv.FormatInt(i, 10), Source: "bench", Type: "bench.t" + strconv.FormatInt(i%10, 10), Time: at}
				if _, err := client.Deliver(b.Context(), &consumerv1.DeliverRequest{Event: ev, Subscription: "analytics", Attempt: 1}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}
