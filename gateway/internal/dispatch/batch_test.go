package dispatch

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/eventually"
)

// batchConsumer is a testConsumer that also implements DeliverBatch: each
// delivery is applied like a Deliver call unless status answers for it first;
// whole, when set, answers the nth call (from 1) as a whole.
type batchConsumer struct {
	*testConsumer
	status func(bd *consumerv1.BatchDelivery) *consumerv1.DeliveryStatus
	whole  func(n int, req *consumerv1.DeliverBatchRequest) (*consumerv1.DeliverBatchResponse, error)
	// gate, when set, holds the first call until it is closed.
	gate chan struct{}

	bmu     sync.Mutex
	batches [][]*consumerv1.BatchDelivery
}

func (c *batchConsumer) DeliverBatch(ctx context.Context, req *consumerv1.DeliverBatchRequest) (*consumerv1.DeliverBatchResponse, error) {
	c.bmu.Lock()
	c.batches = append(c.batches, req.GetDeliveries())
	n := len(c.batches)
	c.bmu.Unlock()
	if n == 1 && c.gate != nil {
		select {
		case <-c.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if c.whole != nil {
		if resp, err := c.whole(n, req); resp != nil || err != nil {
			return resp, err
		}
	}
	resp := &consumerv1.DeliverBatchResponse{}
	for _, bd := range req.GetDeliveries() {
		if c.status != nil {
			if st := c.status(bd); st != nil {
				resp.Statuses = append(resp.Statuses, st)
				continue
			}
		}
		st := &consumerv1.DeliveryStatus{}
		if !c.fx.apply(bd.GetEvent()) {
			st.Code = int32(codes.AlreadyExists)
		}
		resp.Statuses = append(resp.Statuses, st)
	}
	return resp, nil
}

func (c *batchConsumer) seen() [][]*consumerv1.BatchDelivery {
	c.bmu.Lock()
	defer c.bmu.Unlock()
	return append([][]*consumerv1.BatchDelivery(nil), c.batches...)
}

// batchOf is the first batch holding event id, nil when none.
func (c *batchConsumer) batchOf(id string) []*consumerv1.BatchDelivery {
	for _, b := range c.seen() {
		for _, bd := range b {
			if bd.GetEvent().GetId() == id {
				return b
			}
		}
	}
	return nil
}

// Concurrent events go in batches; each delivery in a batch carries its own
// event's delivery span as traceparent; the call's span is a root linked to
// them; a replay's delivery says replay.
func TestDeliverBatchGroupsAndTraces(t *testing.T) {
	e := newEnv(t)
	c := &batchConsumer{testConsumer: &testConsumer{fx: newEffects()}}
	c.whole = func(int, *consumerv1.DeliverBatchRequest) (*consumerv1.DeliverBatchResponse, error) {
		time.Sleep(10 * time.Millisecond) // a commit: events arriving meanwhile queue
		return nil, nil
	}
	addr, _ := serve(t, c, "127.0.0.1:0")
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	reg := prometheus.NewRegistry()
	cfg := e.config(sub("svc", addr, "b.*"))
	cfg.TracerProvider, cfg.Registerer = tp, reg
	d := e.start(cfg)

	const n = 120
	stored := map[string]trace.SpanContext{}
	evs := make([]string, n)
	for i := range n {
		ev := event(fmt.Sprintf("ev-%d", i), "b.x")
		ctx, span := tp.Tracer("test").Start(t.Context(), "ingest")
		span.End()
		sc := trace.SpanContextFromContext(ctx)
		ev.Traceparent = "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"
		stored[ev.GetId()], evs[i] = sc, ev.GetId()
		e.append(ev)
	}
	eventually.True(t, 20*time.Second, "every event applied", func() bool { return c.fx.total() == n })
	if got := c.numCalls(); got != 0 {
		t.Errorf("%d Deliver calls, want none", got)
	}
	total, biggest := 0, 0
	for _, b := range c.seen() {
		total += len(b)
		biggest = max(biggest, len(b))
		if len(b) > 16 {
			t.Errorf("batch of %d beyond max_in_flight 16", len(b))
		}
	}
	if total != n || biggest < 2 {
		t.Fatalf("batches carried %d events, biggest %d: want %d in batches > 1", total, biggest, n)
	}

	// Each delivery span is in its event's trace, and the batch named it.
	var sends map[string]sdktrace.ReadOnlySpan
	var batchSpans []sdktrace.ReadOnlySpan
	eventually.True(t, 10*time.Second, "delivery spans", func() bool {
		sends, batchSpans = map[string]sdktrace.ReadOnlySpan{}, nil
		for _, s := range exp.GetSpans().Snapshots() {
			switch s.Name() {
			case "send svc":
				for _, kv := range s.Attributes() {
					if kv.Key == "hookmesh.event.id" {
						sends[kv.Value.AsString()] = s
					}
				}
			case "send svc batch":
				batchSpans = append(batchSpans, s)
			}
		}
		return len(sends) == n
	})
	for _, id := range evs {
		s := sends[id]
		if s.SpanContext().TraceID() != stored[id].TraceID() || s.Parent().SpanID() != stored[id].SpanID() {
			t.Errorf("%s: delivery span not a child of the stored context", id)
		}
		bd := c.batchOf(id)
		var tp string
		for _, x := range bd {
			if x.GetEvent().GetId() == id {
				tp = x.GetTraceparent()
			}
		}
		want := "00-" + s.SpanContext().TraceID().String() + "-" + s.SpanContext().SpanID().String() + "-"
		if !strings.HasPrefix(tp, want) {
			t.Errorf("%s: batch traceparent %q, want its delivery span %s…", id, tp, want)
		}
	}
	sendIDs := map[trace.SpanID]bool{}
	for _, s := range sends {
		sendIDs[s.SpanContext().SpanID()] = true
	}
	linked := 0
	for _, s := range batchSpans {
		if s.Parent().IsValid() {
			t.Errorf("batch span has parent %v", s.Parent())
		}
		for _, l := range s.Links() {
			if sendIDs[l.SpanContext.SpanID()] {
				linked++
			}
		}
	}
	if linked != n {
		t.Errorf("batch spans link %d delivery spans, want %d", linked, n)
	}
	h := histogram(t, reg, "hookmesh_dispatch_batch_events")
	if h.GetSampleCount() != uint64(len(c.seen())) || h.GetSampleSum() != n {
		t.Errorf("batch_events count %d sum %v, want %d %d", h.GetSampleCount(), h.GetSampleSum(), len(c.seen()), n)
	}

	// A replay goes by DeliverBatch too, flagged.
	if _, err := d.ReplayEvent(ctxT(t), "test", "ev-0", []string{"svc"}); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 10*time.Second, "the replay", func() bool {
		for _, b := range c.seen() {
			for _, bd := range b {
				if bd.GetEvent().GetId() == "ev-0" && bd.GetReplay() && bd.GetAttempt() == 1 {
					return true
				}
			}
		}
		return false
	})
}

// In one batch: one event terminal (dead letter with its own reason), one
// retryable (retried with its RetryInfo, then delivered), the rest delivered.
func TestDeliverBatchPerEventStatuses(t *testing.T) {
	e := newEnv(t)
	c := &batchConsumer{testConsumer: &testConsumer{fx: newEffects()}, gate: make(chan struct{})}
	c.status = func(bd *consumerv1.BatchDelivery) *consumerv1.DeliveryStatus {
		switch id := bd.GetEvent().GetId(); {
		case id == "bad":
			return &consumerv1.DeliveryStatus{Code: int32(codes.InvalidArgument), Message: "no such user"}
		case id == "flaky" && bd.GetAttempt() == 1:
			return &consumerv1.DeliveryStatus{Code: int32(codes.Unavailable), Message: "busy", RetryDelay: durationpb.New(5 * time.Millisecond)}
		}
		return nil
	}
	addr, _ := serve(t, c, "127.0.0.1:0")
	s := sub("svc", addr, "b.*")
	s.Retry = RetryPolicy{Policy: PolicyFixed, NumRetries: 2, Interval: time.Hour} // only the hint makes it quick
	d := e.start(e.config(s))

	e.append(event("first", "b.x")) // held by the gate: the rest queue behind it
	eventually.True(t, 10*time.Second, "the first call", func() bool { return len(c.seen()) == 1 })
	ids := []string{"ok-1", "bad", "ok-2", "flaky", "ok-3"}
	evs := map[string]*consumerv1.BatchDelivery{}
	for _, id := range ids {
		ev := event(id, "b.x")
		evs[id] = &consumerv1.BatchDelivery{Event: ev}
		e.append(ev)
	}
	eventually.True(t, 10*time.Second, "events queued", func() bool {
		return testutil.ToFloat64(d.m.inFlight.WithLabelValues("svc")) == float64(len(ids)+1)
	})
	close(c.gate)

	for _, id := range []string{"ok-1", "ok-2", "ok-3"} {
		waitState(t, d, evs[id].GetEvent(), "svc", adminv1.DeliveryState_DELIVERY_STATE_DELIVERED)
	}
	flaky := waitState(t, d, evs["flaky"].GetEvent(), "svc", adminv1.DeliveryState_DELIVERY_STATE_DELIVERED)
	if a := flaky.GetAttempts(); len(a) != 2 || a[0].GetCode() != "UNAVAILABLE" || a[0].GetMessage() != "busy" || a[1].GetCode() != "OK" {
		t.Errorf("flaky attempts %v", a)
	}
	bad := waitState(t, d, evs["bad"].GetEvent(), "svc", adminv1.DeliveryState_DELIVERY_STATE_DEAD)
	if a := bad.GetAttempts(); len(a) != 1 || a[0].GetCode() != "INVALID_ARGUMENT" || a[0].GetMessage() != "no such user" {
		t.Errorf("bad attempts %v", a)
	}
	dls, _, err := d.ListDeadLetters(ctxT(t), DeadLetterQuery{Subscription: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || dls[0].GetEvent().GetId() != "bad" || dls[0].GetReason() != "terminal: INVALID_ARGUMENT" {
		t.Fatalf("dead letters %v", dls)
	}
	// They were one batch.
	b := c.batchOf("bad")
	if len(b) != len(ids) {
		t.Fatalf("the batch with bad had %d events, want %d", len(b), len(ids))
	}
}

// A failed call fails every event in it (retried); so does an answer with the
// wrong number of statuses.
func TestDeliverBatchWholeCallFailure(t *testing.T) {
	e := newEnv(t)
	c := &batchConsumer{testConsumer: &testConsumer{fx: newEffects()}, gate: make(chan struct{})}
	c.whole = func(n int, req *consumerv1.DeliverBatchRequest) (*consumerv1.DeliverBatchResponse, error) {
		first := req.GetDeliveries()[0]
		switch {
		case strings.HasPrefix(first.GetEvent().GetId(), "ev-") && first.GetAttempt() == 1:
			// Every call of first attempts fails as a whole (the three usually go in
			// one call; under load one may still be on its way into the queue).
			return nil, statusError(&consumerv1.DeliveryStatus{Code: int32(codes.Unavailable), Message: "restarting"})
		case first.GetEvent().GetId() == "count" && first.GetAttempt() == 1:
			return &consumerv1.DeliverBatchResponse{Statuses: make([]*consumerv1.DeliveryStatus, len(req.GetDeliveries())+1)}, nil
		}
		return nil, nil
	}
	addr, _ := serve(t, c, "127.0.0.1:0")
	d := e.start(e.config(sub("svc", addr, "b.*")))
	e.append(event("first", "b.x"))
	eventually.True(t, 10*time.Second, "the first call", func() bool { return len(c.seen()) == 1 })
	var evs []*eventv1.Event
	for i := range 3 {
		ev := event(fmt.Sprintf("ev-%d", i), "b.x")
		evs = append(evs, ev)
		e.append(ev)
	}
	eventually.True(t, 10*time.Second, "events queued", func() bool {
		return testutil.ToFloat64(d.m.inFlight.WithLabelValues("svc")) == 4
	})
	close(c.gate) // call 2 carries the three and fails as a whole
	for _, ev := range evs {
		a := waitState(t, d, ev, "svc", adminv1.DeliveryState_DELIVERY_STATE_DELIVERED).GetAttempts()
		if len(a) != 2 || a[0].GetCode() != "UNAVAILABLE" || a[0].GetMessage() != "restarting" || a[1].GetCode() != "OK" {
			t.Errorf("%s attempts %v", ev.GetId(), a)
		}
	}
	// The failed calls carried the three first attempts, together.
	failed, most := 0, 0
	for _, b := range c.seen()[1:] {
		if strings.HasPrefix(b[0].GetEvent().GetId(), "ev-") && b[0].GetAttempt() == 1 {
			failed += len(b)
			most = max(most, len(b))
		}
	}
	if failed != 3 || most < 2 {
		t.Fatalf("failed calls carried %d first attempts (at most %d in one), want 3 with several in one call", failed, most)
	}

	ev := event("count", "b.x")
	e.append(ev)
	a := waitState(t, d, ev, "svc", adminv1.DeliveryState_DELIVERY_STATE_DELIVERED).GetAttempts()
	if len(a) != 2 || a[0].GetCode() != "INTERNAL" || !strings.Contains(a[0].GetMessage(), "2 statuses for 1 events") || a[1].GetCode() != "OK" {
		t.Fatalf("attempts %v", a)
	}
}

// A consumer without DeliverBatch gets every event by Deliver, none dead, and
// the dispatcher stops asking.
func TestDeliverBatchFallback(t *testing.T) {
	e := newEnv(t)
	c := &testConsumer{fx: newEffects()}
	addr, _ := serve(t, c, "127.0.0.1:0")
	reg := prometheus.NewRegistry()
	cfg := e.config(sub("svc", addr, "b.*"))
	cfg.Registerer = reg
	d := e.start(cfg)
	const n = 60
	for i := range n {
		e.append(event(fmt.Sprintf("ev-%d", i), "b.x"))
	}
	eventually.True(t, 20*time.Second, "every event applied", func() bool { return c.fx.total() == n })
	if got := c.numCalls(); got != n {
		t.Errorf("%d Deliver calls, want %d", got, n)
	}
	if calls := histogram(t, reg, "hookmesh_dispatch_batch_events").GetSampleCount(); calls < 1 || calls > batchCalls {
		t.Errorf("%d DeliverBatch calls, want 1..%d before falling back", calls, batchCalls)
	}
	if v := testutil.ToFloat64(d.m.batchFallback.WithLabelValues("svc")); v != 1 {
		t.Errorf("batch_fallback = %v", v)
	}
	dls, _, err := d.ListDeadLetters(ctxT(t), DeadLetterQuery{Subscription: "svc"})
	if err != nil || len(dls) != 0 {
		t.Fatalf("dead letters %v %v", dls, err)
	}
	for i := range n {
		if got := stateOf(t, d, event(fmt.Sprintf("ev-%d", i), "b.x"), "svc"); got != adminv1.DeliveryState_DELIVERY_STATE_DELIVERED {
			t.Fatalf("ev-%d is %s", i, got)
		}
	}
}

// max_wait lingers for more events; max_events caps a batch and ends the linger.
func TestBatchMaxWaitAndMaxEvents(t *testing.T) {
	e := newEnv(t)
	c := &batchConsumer{testConsumer: &testConsumer{fx: newEffects()}}
	addr, _ := serve(t, c, "127.0.0.1:0")
	s := sub("svc", addr, "b.*")
	s.Batch = Batch{MaxEvents: 4, MaxWait: time.Second}
	e.start(e.config(s))
	start := time.Now()
	for i := range 4 {
		e.append(event(fmt.Sprintf("ev-%d", i), "b.x"))
	}
	eventually.True(t, 5*time.Second, "the first batch", func() bool { return len(c.seen()) > 0 })
	if took := time.Since(start); took > 800*time.Millisecond {
		t.Errorf("first batch after %s: a full batch should end the 1s linger", took)
	}
	if b := c.seen()[0]; len(b) != 4 {
		t.Errorf("first batch of %d, want 4 (lingered for the rest)", len(b))
	}
	for i := 4; i < 9; i++ {
		e.append(event(fmt.Sprintf("ev-%d", i), "b.x"))
	}
	eventually.True(t, 20*time.Second, "every event applied", func() bool { return c.fx.total() == 9 })
	for _, b := range c.seen() {
		if len(b) > 4 {
			t.Errorf("batch of %d beyond max_events 4", len(b))
		}
	}
}

// A batch stays under gRPC's default 4 MiB message limit whatever max_events says.
func TestBatchBoundedByBytes(t *testing.T) {
	e := newEnv(t)
	c := &batchConsumer{testConsumer: &testConsumer{fx: newEffects()}, gate: make(chan struct{})}
	addr, _ := serve(t, c, "127.0.0.1:0")
	e.start(e.config(sub("svc", addr, "b.*")))
	big := func(id string) *eventv1.Event {
		ev := event(id, "b.x")
		ev.OriginalBody = make([]byte, 700<<10)
		return ev
	}
	e.append(big("first"))
	eventually.True(t, 10*time.Second, "the first call", func() bool { return len(c.seen()) == 1 })
	for i := range 12 {
		e.append(big(fmt.Sprintf("ev-%d", i)))
	}
	time.Sleep(200 * time.Millisecond) // let them queue behind the gate
	close(c.gate)
	eventually.True(t, 20*time.Second, "every event applied", func() bool { return c.fx.total() == 13 })
	biggest := 0
	for _, b := range c.seen() {
		size := proto.Size(&consumerv1.DeliverBatchRequest{Subscription: "svc", Deliveries: b})
		if size > batchMaxBytes+1024 {
			t.Errorf("batch of %d events is %d bytes", len(b), size)
		}
		biggest = max(biggest, len(b))
	}
	if biggest < 2 {
		t.Errorf("biggest batch %d, want several events", biggest)
	}
}

type stepClock struct{ off atomic.Int64 }

func (c *stepClock) Now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

// A target remembered without DeliverBatch is asked again after reprobeAfter
// (it may have been upgraded meanwhile).
func TestBatchReprobe(t *testing.T) {
	e := newEnv(t)
	var upgraded atomic.Bool
	c := &batchConsumer{testConsumer: &testConsumer{fx: newEffects()}}
	c.whole = func(int, *consumerv1.DeliverBatchRequest) (*consumerv1.DeliverBatchResponse, error) {
		if !upgraded.Load() {
			return nil, statusError(&consumerv1.DeliveryStatus{Code: int32(codes.Unimplemented)})
		}
		return nil, nil
	}
	addr, _ := serve(t, c, "127.0.0.1:0")
	clk := &stepClock{}
	cfg := e.config(sub("svc", addr, "b.*"))
	cfg.Clock = clk
	e.start(cfg)
	e.append(event("old-1", "b.x"))
	eventually.True(t, 10*time.Second, "old-1 by Deliver", func() bool { return c.fx.total() == 1 })
	e.append(event("old-2", "b.x"))
	eventually.True(t, 10*time.Second, "old-2 by Deliver", func() bool { return c.fx.total() == 2 })
	if len(c.seen()) != 1 || c.numCalls() != 2 {
		t.Fatalf("%d batch calls, %d Deliver calls: want 1 and 2", len(c.seen()), c.numCalls())
	}
	upgraded.Store(true)
	clk.off.Store(int64(reprobeAfter + time.Second))
	e.append(event("new", "b.x"))
	eventually.True(t, 10*time.Second, "new by DeliverBatch", func() bool { return c.batchOf("new") != nil && c.fx.total() == 3 })
	if c.numCalls() != 2 {
		t.Errorf("%d Deliver calls after the upgrade", c.numCalls()-2)
	}
}

// max_events 1 is one Deliver per event, DeliverBatch never tried.
func TestBatchOff(t *testing.T) {
	e := newEnv(t)
	c := &batchConsumer{testConsumer: &testConsumer{fx: newEffects()}}
	addr, _ := serve(t, c, "127.0.0.1:0")
	s := sub("svc", addr, "b.*")
	s.Batch.MaxEvents = 1
	e.start(e.config(s))
	for i := range 10 {
		e.append(event(fmt.Sprintf("ev-%d", i), "b.x"))
	}
	eventually.True(t, 20*time.Second, "every event applied", func() bool { return c.fx.total() == 10 })
	if len(c.seen()) != 0 || c.numCalls() != 10 {
		t.Fatalf("%d batches, %d Deliver calls", len(c.seen()), c.numCalls())
	}
}

func TestBatchValidate(t *testing.T) {
	for _, b := range []Batch{{MaxEvents: -1}, {MaxEvents: 1025}, {MaxWait: -time.Millisecond}, {MaxWait: 2 * time.Second}} {
		s := sub("s", "127.0.0.1:1", "a")
		s.Batch = b
		s.setDefaults()
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "batch:") {
			t.Errorf("%+v: %v", b, err)
		}
	}
}

// histogram is the one series of a histogram family in reg.
func histogram(t *testing.T, reg *prometheus.Registry, name string) *dto.Histogram {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetHistogram()
		}
	}
	return &dto.Histogram{}
}
