package grpcapi_test

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/proto"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/groupcommit"
	"github.com/hookmesh/hookmesh/platform/sqlstore"
	"github.com/hookmesh/hookmesh/platform/sqlstore/sqlstoretest"
	"github.com/hookmesh/hookmesh/services/orders/internal/store"
	ev "github.com/hookmesh/hookmesh/services/orders/internal/testevents"
)

// BenchmarkDeliver measures Deliver over gRPC on loopback, one transaction per
// event: a restock, and a completion (stock, shipment, two outbox rows).
func BenchmarkDeliver(b *testing.B) {
	type dialect struct {
		name string
		open func(testing.TB) *sqlstore.DB
	}
	dbs := []dialect{{"sqlite", func(tb testing.TB) *sqlstore.DB { return sqlstoretest.SQLite(tb, store.Migrations) }}}
	if os.Getenv(sqlstoretest.DatabaseURLEnv) != "" {
		dbs = append(dbs, dialect{"postgres", func(tb testing.TB) *sqlstore.DB { return sqlstoretest.Postgres(tb, store.Migrations) }})
	}
	kinds := []struct {
		name  string
		event func(i int) *eventv1.Event
	}{
		{"restock", func(i int) *eventv1.Event {
			return ev.Inventory(fmt.Sprintf("r-%d", i), "update", ev.InventoryRow("A", 0), ev.InventoryRow("A", 1), t0)
		}},
		{"completion", func(i int) *eventv1.Event {
			return ev.Completion(fmt.Sprintf("c-%d", i), fmt.Sprintf("o-%d", i), "alice", t0, ev.Item{SKU: "A", Quantity: 1, Price: 1})
		}},
	}
	for _, db := range dbs {
		for _, k := range kinds {
			b.Run(db.name+"/"+k.name, func(b *testing.B) {
				e := newEnv(b, db.open(b))
				e.mustDeliver(b, ev.Inventory("seed", "insert", nil, ev.InventoryRow("A", 1<<40), t0))
				events := make([]*eventv1.Event, b.N)
				for i := range events {
					events[i] = k.event(i)
				}
				b.SetBytes(int64(proto.Size(events[0])))
				b.ResetTimer()
				for i := range b.N {
					if err := e.deliver(b, events[i]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDeliverConcurrent is 64 concurrent callers (the subscription's
// max_in_flight) delivering order completions, each effect in its own transaction
// ("solo") or group-committed ("group", the service's wiring), and the same events
// as DeliverBatch calls of 32 ("batch").
func BenchmarkDeliverConcurrent(b *testing.B) {
	for _, mode := range []string{"solo", "group", "batch"} {
		b.Run("sqlite/"+mode, func(b *testing.B) {
			db := sqlstoretest.SQLite(b, store.Migrations)
			e := newEnv(b, db)
			if mode != "solo" {
				g, err := db.Group(groupcommit.Config{})
				if err != nil {
					b.Fatal(err)
				}
				e.st.GroupCommit(g)
			}
			e.mustDeliver(b, ev.Inventory("seed", "insert", nil, ev.InventoryRow("A", 1<<40), t0))
			completion := func(i int64) *eventv1.Event {
				return ev.Completion(fmt.Sprintf("c-%d", i), fmt.Sprintf("o-%d", i), "alice", t0, ev.Item{SKU: "A", Quantity: 1, Price: 1})
			}
			var next atomic.Int64
			b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if mode != "batch" {
						if err := e.deliver(b, completion(next.Add(1))); err != nil {
							b.Error(err)
						}
						continue
					}
					// One call per 32 iterations of this goroutine.
					req := &consumerv1.DeliverBatchRequest{Subscription: "orders"}
					for range 32 {
						req.Deliveries = append(req.Deliveries, &consumerv1.BatchDelivery{Event: completion(next.Add(1)), Attempt: 1})
						if len(req.Deliveries) < 32 && !pb.Next() {
							break
						}
					}
					resp, err := e.consumer.DeliverBatch(b.Context(), req)
					if err != nil {
						b.Error(err)
						continue
					}
					for _, st := range resp.GetStatuses() {
						if st.GetCode() != 0 {
							b.Errorf("batch event: code %d %s", st.GetCode(), st.GetMessage())
						}
					}
				}
			})
			b.ReportMetric(float64(next.Load())/b.Elapsed().Seconds(), "events/s")
		})
	}
}
