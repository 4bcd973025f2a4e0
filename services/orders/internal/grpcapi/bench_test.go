package grpcapi_test

import (
	"fmt"
	"os"
	"testing"

	"google.golang.org/protobuf/proto"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
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
