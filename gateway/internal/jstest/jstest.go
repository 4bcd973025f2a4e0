// Package jstest starts a real NATS JetStream server (the pinned nats-server
// module, in-process, listening on a random loopback port) for the gateway's
// tests and opens the real event log on it, so tests use the log's own layout and
// Append, and can open independent connections (one per gateway process).
package jstest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// Server is a JetStream server living as long as the test.
type Server struct {
	NS *server.Server
}

// Start runs a JetStream server with its store in a temp dir, on 127.0.0.1:<random>.
func Start(tb testing.TB) *Server {
	tb.Helper()
	ns, err := server.NewServer(&server.Options{
		Host:       "127.0.0.1",
		Port:       -1,
		JetStream:  true,
		StoreDir:   tb.TempDir(),
		NoLog:      true,
		NoSigs:     true,
		MaxPayload: 8 << 20,
	})
	if err != nil {
		tb.Fatalf("new nats server: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		tb.Fatal("nats server not ready")
	}
	tb.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return &Server{NS: ns}
}

// URL is the server's client URL.
func (s *Server) URL() string { return s.NS.ClientURL() }

// Connect opens a new connection (a separate "process"), closed at the end of the test.
func (s *Server) Connect(tb testing.TB) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect(s.URL(), nats.MaxReconnects(-1))
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

// OpenLog opens the event log on the server and waits until it takes writes.
func (s *Server) OpenLog(tb testing.TB) *eventlog.Log {
	tb.Helper()
	return OpenLog(tb, eventlog.Config{URL: s.URL()})
}

// OpenLog opens the event log with cfg (on a Server's URL, or embedded on a
// DataDir) and waits until it takes writes; it closes at the end of the test.
func OpenLog(tb testing.TB, cfg eventlog.Config) *eventlog.Log {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), 30*time.Second)
	defer cancel()
	l, err := eventlog.Open(ctx, cfg, nil)
	if err != nil {
		tb.Fatalf("open event log: %v", err)
	}
	tb.Cleanup(func() { _ = l.Close() })
	if err := l.WaitReady(ctx); err != nil {
		tb.Fatalf("event log ready: %v", err)
	}
	return l
}

// Append stores ev in the log, failing the test on error.
func Append(tb testing.TB, l *eventlog.Log, ev *eventv1.Event) uint64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), 10*time.Second)
	defer cancel()
	res, err := l.Append(ctx, ev)
	if err != nil {
		tb.Fatalf("append %s/%s: %v", ev.GetSource(), ev.GetId(), err)
	}
	return res.Seq
}
