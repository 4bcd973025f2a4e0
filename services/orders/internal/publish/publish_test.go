package publish_test

import (
	"context"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/eventually"
	"github.com/hookmesh/hookmesh/platform/sqlstore/sqlstoretest"
	"github.com/hookmesh/hookmesh/services/orders/internal/orders"
	"github.com/hookmesh/hookmesh/services/orders/internal/outbox"
	"github.com/hookmesh/hookmesh/services/orders/internal/publish"
	"github.com/hookmesh/hookmesh/services/orders/internal/publish/publishtest"
	"github.com/hookmesh/hookmesh/services/orders/internal/store"
)

const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func fact(id string) orders.Fact {
	return orders.Fact{
		ID: id, Type: orders.TypeShipmentCreated, Subject: "orders/o-" + id,
		Data:     map[string]any{"order_id": "o-" + id, "total_cents": 1999, "items": []any{map[string]any{"sku": "A", "quantity": 2}}},
		CausedBy: orders.EventRef{Source: "hasura", ID: "evt-" + id},
		Time:     time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC),
		Trace:    orders.Trace{Parent: parent},
	}
}

func start(t *testing.T, st *store.Store, client eventv1.PublisherServiceClient, tp trace.TracerProvider) {
	t.Helper()
	p, err := publish.New(publish.Config{
		Client: client, Poll: 20 * time.Millisecond, TracerProvider: tp,
		Backoff: outbox.Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond},
	}, st)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestPublisher(t *testing.T) {
	ctx := t.Context()

	t.Run("publishes the fact once with its envelope and trace", func(t *testing.T) {
		st := store.New(sqlstoretest.SQLite(t, store.Migrations), nil)
		client, rec := publishtest.Start(t)
		spans := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
		if err := st.RecordFact(ctx, fact("f1")); err != nil {
			t.Fatal(err)
		}
		start(t, st, client, tp)
		eventually.True(t, 15*time.Second, "published", func() bool { return len(rec.Events()) == 1 })
		ev := rec.Events()[0]
		if ev.GetId() != "f1" || ev.GetSource() != orders.Source || ev.GetType() != orders.TypeShipmentCreated || ev.GetSubject() != "orders/o-f1" {
			t.Fatalf("envelope = %v", ev)
		}
		f := ev.GetFact()
		if f.GetService() != "orders" || f.GetCausedBy().GetId() != "evt-f1" || f.GetData().GetStructValue().GetFields()["order_id"].GetStringValue() != "o-f1" {
			t.Fatalf("fact = %v", f)
		}
		if !strings.HasPrefix(ev.GetTraceparent(), "00-4bf92f3577b34da6a3ce929d0e0e4736-") || ev.GetTraceparent() == parent {
			t.Fatalf("traceparent = %q, want a child span of the stored trace", ev.GetTraceparent())
		}
		eventually.True(t, 15*time.Second, "the publish span ended", func() bool { return len(spans.Ended()) > 0 })
		if got := spans.Ended()[0].Parent().TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Fatalf("publish span trace = %s", got)
		}
		time.Sleep(100 * time.Millisecond)
		if rec.Calls() != 1 {
			t.Fatalf("publish calls = %d, want 1", rec.Calls())
		}
		// Marked after the publish returns: under load that can take longer than the sleep.
		eventually.True(t, 15*time.Second, "the outbox to have no due fact", func() bool {
			_, ok, err := st.NextFactDue(ctx)
			return err == nil && !ok
		})
	})

	t.Run("retries until the gateway takes it", func(t *testing.T) {
		st := store.New(sqlstoretest.SQLite(t, store.Migrations), nil)
		client, rec := publishtest.Start(t)
		rec.FailNext(3)
		if err := st.RecordFact(ctx, fact("f2")); err != nil {
			t.Fatal(err)
		}
		start(t, st, client, nil)
		eventually.True(t, 15*time.Second, "published", func() bool { return len(rec.Events()) == 1 })
		if rec.Calls() != 4 {
			t.Fatalf("publish calls = %d, want 4", rec.Calls())
		}
	})

	t.Run("a restarted publisher does not publish again", func(t *testing.T) {
		db := sqlstoretest.SQLite(t, store.Migrations)
		st := store.New(db, nil)
		client, rec := publishtest.Start(t)
		if err := st.RecordFact(ctx, fact("f3")); err != nil {
			t.Fatal(err)
		}
		if err := st.RecordFact(ctx, fact("f3")); err != nil { // the same fact twice is one row
			t.Fatal(err)
		}
		start(t, st, client, nil)
		eventually.True(t, 15*time.Second, "published", func() bool { return len(rec.Events()) == 1 })
		start(t, st, client, nil)
		time.Sleep(150 * time.Millisecond)
		if rec.Calls() != 1 {
			t.Fatalf("publish calls = %d, want 1", rec.Calls())
		}
	})

	t.Run("config is validated", func(t *testing.T) {
		st := store.New(sqlstoretest.SQLite(t, store.Migrations), nil)
		if _, err := publish.New(publish.Config{}, st); err == nil {
			t.Error("New accepted a config without a client")
		}
		client, _ := publishtest.Start(t)
		if _, err := publish.New(publish.Config{Client: client}, nil); err == nil {
			t.Error("New accepted a nil outbox")
		}
		if _, err := publish.New(publish.Config{Client: client, Backoff: outbox.Backoff{Initial: -1, Max: 1}}, st); err == nil {
			t.Error("New accepted a negative back-off")
		}
	})
}

func TestEventRejectsUnencodableData(t *testing.T) {
	f := fact("bad")
	f.Data = map[string]any{"ch": make(chan int)}
	if _, err := publish.Event(t.Context(), f); err == nil {
		t.Fatal("Event encoded a channel")
	}
}
