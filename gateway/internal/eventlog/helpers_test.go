package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

var prefixSeq atomic.Int64

// testPrefix isolates a test's streams on a shared server.
func testPrefix(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, t.Name())
	if len(name) > 20 {
		name = name[len(name)-20:]
	}
	return fmt.Sprintf("T%d%s_", prefixSeq.Add(1), name)
}

func testLogger() *slog.Logger {
	if os.Getenv("HOOKMESH_TEST_LOG") != "" {
		return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// openLog opens a log (embedded on a temp dir unless cfg says otherwise), waits until
// it is ready and closes it at the end of the test.
func openLog(t testing.TB, cfg eventlog.Config) *eventlog.Log {
	t.Helper()
	if cfg.URL == "" && cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	l, err := eventlog.Open(ctx, cfg, testLogger())
	if err != nil {
		t.Fatalf("open event log: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	if err := l.WaitReady(ctx); err != nil {
		t.Fatalf("event log not ready: %v", err)
	}
	return l
}

func newEvent(source, id, typ string, body int) *eventv1.Event {
	return &eventv1.Event{
		Id:              id,
		Source:          source,
		Type:            typ,
		Subject:         "public.orders/42",
		Time:            timestamppb.New(time.Unix(1700000000, 0)),
		ReceivedTime:    timestamppb.Now(),
		Datacontenttype: "application/json",
		OriginalBody:    []byte(`{"pad":"` + strings.Repeat("x", max(body-10, 0)) + `"}`),
	}
}

// mustAppend appends ev, retrying ErrUnavailable for a while as a sender retries a
// 503.
func mustAppend(t testing.TB, l *eventlog.Log, ev *eventv1.Event) eventlog.AppendResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	for {
		res, err := l.Append(ctx, ev)
		if err == nil {
			return res
		}
		if !errors.Is(err, eventlog.ErrUnavailable) || ctx.Err() != nil {
			t.Fatalf("append %s/%s: %v", ev.Source, ev.Id, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countEvents reads the whole stream and counts each stored "<source>/<id>"; it
// also checks that every event is on its own subject.
func countEvents(t testing.TB, l *eventlog.Log) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	counts := map[string]int{}
	stream, err := l.JetStream().Stream(ctx, l.Stream())
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	if stream.CachedInfo().State.Msgs == 0 {
		return counts
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("ordered consumer: %v", err)
	}
	for {
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("read stream: %v", err)
		}
		ev := new(eventv1.Event)
		if err := proto.Unmarshal(msg.Data(), ev); err != nil {
			t.Fatalf("stored message on %s is no event: %v", msg.Subject(), err)
		}
		if want := l.EventSubject(ev.Source, ev.Id); msg.Subject() != want {
			t.Errorf("event %s/%s stored on %s, want %s", ev.Source, ev.Id, msg.Subject(), want)
		}
		counts[ev.Source+"/"+ev.Id]++
		md, err := msg.Metadata()
		if err != nil {
			t.Fatalf("metadata: %v", err)
		}
		if md.NumPending == 0 {
			return counts
		}
	}
}
