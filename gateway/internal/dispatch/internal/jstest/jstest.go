// Package jstest starts a real embedded NATS JetStream server for the dispatcher's
// tests and benchmarks, and creates the event stream with the event log's layout
// (stream HOOKMESH_EVENTS, subject hookmesh.events.<source>, Nats-Msg-Id
// "<source>/<id>", header Hookmesh-Type, data = proto Event).
package jstest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// Server is an embedded JetStream server living as long as the test.
type Server struct {
	NS *server.Server
}

// Start runs a JetStream server in-process (no listener) with its store in a temp dir.
func Start(tb testing.TB) *Server {
	tb.Helper()
	ns, err := server.NewServer(&server.Options{
		JetStream:  true,
		StoreDir:   tb.TempDir(),
		DontListen: true,
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

// Connect opens a new in-process connection, closed at the end of the test.
func (s *Server) Connect(tb testing.TB) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect("", nats.InProcessServer(s.NS), nats.MaxReconnects(-1))
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

// CreateEventStream creates HOOKMESH_EVENTS as the event log lays it out.
func CreateEventStream(tb testing.TB, js jetstream.JetStream) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       "HOOKMESH_EVENTS",
		Subjects:   []string{"hookmesh.events.>"},
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		Discard:    jetstream.DiscardNew,
		Duplicates: 2 * time.Minute,
	})
	if err != nil {
		tb.Fatalf("create event stream: %v", err)
	}
}

// Publish appends ev the way the event log does and returns its stream sequence.
func Publish(ctx context.Context, js jetstream.JetStream, ev *eventv1.Event) (uint64, error) {
	if ev.GetReceivedTime() == nil {
		ev.ReceivedTime = timestamppb.Now()
	}
	data, err := proto.Marshal(ev)
	if err != nil {
		return 0, fmt.Errorf("marshal event: %w", err)
	}
	msg := &nats.Msg{
		Subject: "hookmesh.events." + ev.GetSource(),
		Data:    data,
		Header:  nats.Header{},
	}
	msg.Header.Set("Hookmesh-Type", ev.GetType())
	ack, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(ev.GetSource()+"/"+ev.GetId()))
	if err != nil {
		return 0, fmt.Errorf("publish event: %w", err)
	}
	return ack.Sequence, nil
}

// MustPublish is Publish failing the test on error.
func MustPublish(tb testing.TB, js jetstream.JetStream, ev *eventv1.Event) uint64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seq, err := Publish(ctx, js, ev)
	if err != nil {
		tb.Fatalf("publish: %v", err)
	}
	return seq
}
