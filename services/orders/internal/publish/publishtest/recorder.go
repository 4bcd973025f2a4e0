// Package publishtest is a PublisherService for tests: a real gRPC server on
// loopback that de-duplicates on (source, id) like the gateway and records what
// was published.
package publishtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/grpcauth"
	"github.com/hookmesh/hookmesh/platform/grpcserver"
	"github.com/hookmesh/hookmesh/platform/grpcserver/grpcservertest"
)

// Recorder records publishes.
type Recorder struct {
	eventv1.UnimplementedPublisherServiceServer
	// Addr is the server's host:port (for PUBLISHER_ADDR).
	Addr string

	mu     sync.Mutex
	fail   int
	calls  int
	perID  map[string]int
	events []*eventv1.Event
	seen   map[string]bool
}

// Start serves a Recorder on loopback and returns a client for it; both stop at cleanup.
func Start(tb testing.TB) (eventv1.PublisherServiceClient, *Recorder) {
	tb.Helper()
	r := &Recorder{seen: map[string]bool{}, perID: map[string]int{}}
	conn := grpcservertest.MustStart(tb, func(s *grpc.Server) { eventv1.RegisterPublisherServiceServer(s, r) })
	r.Addr = conn.Target()
	return eventv1.NewPublisherServiceClient(conn), r
}

// StartRequiringToken serves a Recorder that, like a gateway with an admin token,
// answers Unauthenticated to calls without "authorization: Bearer <token>". Reach
// it at Addr; it stops at cleanup.
func StartRequiringToken(tb testing.TB, token string) *Recorder {
	tb.Helper()
	r := &Recorder{seen: map[string]bool{}, perID: map[string]int{}}
	conn := grpcservertest.MustStartWith(tb, grpcserver.Config{Options: grpcauth.Require(token)},
		func(s *grpc.Server) { eventv1.RegisterPublisherServiceServer(s, r) })
	r.Addr = conn.Target()
	return r
}

// FailNext makes the next n publishes fail with UNAVAILABLE and a short RetryInfo.
func (r *Recorder) FailNext(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = n
}

// Publish implements PublisherService.
func (r *Recorder) Publish(_ context.Context, req *eventv1.PublishRequest) (*eventv1.PublishResponse, error) {
	ev := req.GetEvent()
	if ev.GetSource() == "" || ev.GetId() == "" || ev.GetType() == "" {
		return nil, status.Error(codes.InvalidArgument, "source, id and type are required")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.perID[ev.GetId()]++
	if r.fail > 0 {
		r.fail--
		st, _ := status.New(codes.Unavailable, "log unavailable").
			WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(20 * time.Millisecond)})
		return nil, st.Err()
	}
	key := ev.GetSource() + "/" + ev.GetId()
	if r.seen[key] {
		return &eventv1.PublishResponse{EventId: ev.GetId(), Duplicate: true}, nil
	}
	r.seen[key] = true
	r.events = append(r.events, proto.Clone(ev).(*eventv1.Event))
	return &eventv1.PublishResponse{EventId: ev.GetId()}, nil
}

// Events returns the distinct events published, in order.
func (r *Recorder) Events() []*eventv1.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*eventv1.Event(nil), r.events...)
}

// OfType returns the published events of one type.
func (r *Recorder) OfType(typ string) []*eventv1.Event {
	var out []*eventv1.Event
	for _, ev := range r.Events() {
		if ev.GetType() == typ {
			out = append(out, ev)
		}
	}
	return out
}

// Calls counts every Publish call, failed and duplicate ones included.
func (r *Recorder) Calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// CallsFor counts the Publish calls for one event id.
func (r *Recorder) CallsFor(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.perID[id]
}
