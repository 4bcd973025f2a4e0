package dispatch

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	"github.com/hookmesh/hookmesh/gateway/internal/jstest"
	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/eventually"
)

// effects is a consumer's storage: applied once per (source, id), like a real
// consumer recording the pair in the transaction of its effect.
type effects struct {
	mu      sync.Mutex
	applied map[string]int
}

func newEffects() *effects { return &effects{applied: map[string]int{}} }

// apply returns false when (source, id) was applied before.
func (e *effects) apply(ev *eventv1.Event) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := ev.GetSource() + "/" + ev.GetId()
	if e.applied[k] > 0 {
		return false
	}
	e.applied[k]++
	return true
}

func (e *effects) count(source, id string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.applied[source+"/"+id]
}

func (e *effects) total() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, v := range e.applied {
		n += v
	}
	return n
}

// call is one Deliver call a test consumer saw.
type call struct {
	req         *consumerv1.DeliverRequest
	traceparent string
	deadline    time.Time
}

// testConsumer is a real EventConsumerService served over loopback gRPC.
// behave, when set, runs first; a non-nil error is the answer.
type testConsumer struct {
	consumerv1.UnimplementedEventConsumerServiceServer
	fx     *effects
	behave func(ctx context.Context, req *consumerv1.DeliverRequest) error
	mu     sync.Mutex
	calls  []call
}

func (c *testConsumer) Deliver(ctx context.Context, req *consumerv1.DeliverRequest) (*consumerv1.DeliverResponse, error) {
	cl := call{req: req}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("traceparent"); len(v) > 0 {
			cl.traceparent = v[0]
		}
	}
	cl.deadline, _ = ctx.Deadline()
	c.mu.Lock()
	c.calls = append(c.calls, cl)
	c.mu.Unlock()
	if c.behave != nil {
		if err := c.behave(ctx, req); err != nil {
			return nil, err
		}
	}
	if !c.fx.apply(req.GetEvent()) {
		return nil, status.Error(codes.AlreadyExists, "seen before")
	}
	return &consumerv1.DeliverResponse{}, nil
}

func (c *testConsumer) callsFor(id string) []call {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []call
	for _, cl := range c.calls {
		if cl.req.GetEvent().GetId() == id {
			out = append(out, cl)
		}
	}
	return out
}

func (c *testConsumer) numCalls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.calls)
}

// serve runs c on addr ("127.0.0.1:0" for a new port) until stop is called.
func serve(t testing.TB, c consumerv1.EventConsumerServiceServer, addr string) (string, func()) {
	t.Helper()
	var lis net.Listener
	var err error
	for i := 0; i < 50; i++ { // a just-closed port may take a moment to be free
		if lis, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer()
	consumerv1.RegisterEventConsumerServiceServer(srv, c)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	once := sync.Once{}
	stop := func() { once.Do(srv.Stop) }
	t.Cleanup(stop)
	return lis.Addr().String(), stop
}

// dial is a loopback client connection, as the all-in-one wiring passes in Conns.
func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// env is one test's NATS server, event log and helpers.
type env struct {
	t   *testing.T
	srv *jstest.Server
	log *eventlog.Log
	js  jetstream.JetStream
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := jstest.Start(t)
	l := srv.OpenLog(t)
	_, js := srv.Connect(t)
	return &env{t: t, srv: srv, log: l, js: js}
}

func (e *env) append(ev *eventv1.Event) uint64 { return jstest.Append(e.t, e.log, ev) }

// config is a dispatcher config on a fresh connection (one gateway process).
func (e *env) config(subs ...Subscription) Config {
	_, js := e.srv.Connect(e.t)
	return Config{
		JS:             js,
		Subscriptions:  subs,
		AckMargin:      500 * time.Millisecond,
		StatsInterval:  100 * time.Millisecond,
		HealthInterval: time.Hour,
		Registerer:     prometheus.NewRegistry(),
	}
}

func (e *env) start(cfg Config) *Dispatcher {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := New(ctx, cfg)
	if err != nil {
		e.t.Fatalf("new dispatcher: %v", err)
	}
	if err := d.Start(ctx); err != nil {
		e.t.Fatalf("start dispatcher: %v", err)
	}
	e.t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = d.Stop(sctx)
	})
	return d
}

func sub(name, target string, events ...string) Subscription {
	return Subscription{
		Name:        name,
		Target:      target,
		Events:      events,
		Retry:       RetryPolicy{Policy: PolicyFixed, NumRetries: 2, Interval: 50 * time.Millisecond},
		Timeout:     2 * time.Second,
		MaxInFlight: 16,
	}
}

func event(id, typ string) *eventv1.Event {
	return &eventv1.Event{
		Id:           id,
		Source:       "test",
		Type:         typ,
		Subject:      "thing/" + id,
		Time:         timestamppb.Now(),
		ReceivedTime: timestamppb.Now(),
	}
}

func orderEvent(id, oldStatus, newStatus string) *eventv1.Event {
	ev := event(id, "hasura.public.orders.update")
	ev.Source = "hasura"
	h := &eventv1.HasuraTableEvent{Op: eventv1.HasuraOperation_HASURA_OPERATION_UPDATE, Schema: "public", Table: "orders"}
	if oldStatus != "" {
		h.Old, _ = structpb.NewStruct(map[string]any{"id": 1, "status": oldStatus})
	} else {
		h.Op = eventv1.HasuraOperation_HASURA_OPERATION_INSERT
		ev.Type = "hasura.public.orders.insert"
	}
	h.New, _ = structpb.NewStruct(map[string]any{"id": 1, "status": newStatus})
	ev.Payload = &eventv1.Event_HasuraTable{HasuraTable: h}
	return ev
}

// delivery returns the state of ev for one subscription.
func delivery(t *testing.T, d *Dispatcher, ev *eventv1.Event, subName string) *adminv1.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	ds, err := d.Deliveries(ctx, ev)
	if err != nil {
		t.Fatalf("deliveries: %v", err)
	}
	for _, dl := range ds {
		if dl.GetSubscription() == subName {
			return dl
		}
	}
	return nil
}

func stateOf(t *testing.T, d *Dispatcher, ev *eventv1.Event, subName string) adminv1.DeliveryState {
	dl := delivery(t, d, ev, subName)
	if dl == nil {
		return adminv1.DeliveryState_DELIVERY_STATE_UNSPECIFIED
	}
	return dl.GetState()
}

func waitState(t *testing.T, d *Dispatcher, ev *eventv1.Event, subName string, want adminv1.DeliveryState) *adminv1.Delivery {
	t.Helper()
	eventually.True(t, 20*time.Second, fmt.Sprintf("%s of %s to be %s", subName, ev.GetId(), want), func() bool {
		return stateOf(t, d, ev, subName) == want
	})
	return delivery(t, d, ev, subName)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
