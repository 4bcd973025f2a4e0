package dispatch

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// Benchmarks run the embedded default: the event log's in-process JetStream
// server (file store), the dispatcher on the log's connection, and consumers on
// loopback gRPC (a consumer that only counts, so the dispatcher is measured).
//
//	go test ./internal/dispatch -run '^$' -bench . -benchtime 20000x
//	go test ./internal/dispatch -run '^$' -bench DispatchDrain -benchtime 20000x
//	HOOKMESH_BENCH_RATE=5000 HOOKMESH_BENCH_SECONDS=10 go test ./internal/dispatch -run '^$' -bench Latency

// benchConsumer counts deliveries and records when each arrived, by Deliver
// or DeliverBatch.
type benchConsumer struct {
	consumerv1.UnimplementedEventConsumerServiceServer
	// commit, when set, is a single writer's commit (an fsync): one at a time,
	// once per call, whatever the call carries.
	commit   time.Duration
	commitMu sync.Mutex
	n        atomic.Int64
	mu       sync.Mutex
	seen     map[string]time.Time // id -> arrival, for one subscription
}

func (c *benchConsumer) Deliver(_ context.Context, req *consumerv1.DeliverRequest) (*consumerv1.DeliverResponse, error) {
	c.commitOnce()
	c.record(req.GetSubscription(), req.GetEvent())
	return &consumerv1.DeliverResponse{}, nil
}

func (c *benchConsumer) DeliverBatch(_ context.Context, req *consumerv1.DeliverBatchRequest) (*consumerv1.DeliverBatchResponse, error) {
	c.commitOnce()
	resp := &consumerv1.DeliverBatchResponse{Statuses: make([]*consumerv1.DeliveryStatus, len(req.GetDeliveries()))}
	for i, bd := range req.GetDeliveries() {
		c.record(req.GetSubscription(), bd.GetEvent())
		resp.Statuses[i] = &consumerv1.DeliveryStatus{}
	}
	return resp, nil
}

func (c *benchConsumer) commitOnce() {
	if c.commit > 0 {
		c.commitMu.Lock()
		time.Sleep(c.commit)
		c.commitMu.Unlock()
	}
}

func (c *benchConsumer) record(sub string, ev *eventv1.Event) {
	now := time.Now()
	if c.seen != nil {
		c.mu.Lock()
		c.seen[sub+"/"+ev.GetId()] = now
		c.mu.Unlock()
	}
	c.n.Add(1) // after seen: a reader that saw the count finds the arrival
}

type benchEnv struct {
	log  *eventlog.Log
	conn *grpc.ClientConn
	c    *benchConsumer
	addr string
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), 30*time.Second)
	defer cancel()
	l, err := eventlog.Open(ctx, eventlog.Config{DataDir: b.TempDir()}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	if err := l.WaitReady(ctx); err != nil {
		b.Fatal(err)
	}
	c := &benchConsumer{seen: map[string]time.Time{}}
	addr, _ := serve(b, c, "127.0.0.1:0")
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cc.Close() })
	return &benchEnv{log: l, conn: cc, c: c, addr: addr}
}

// dispatcher has subs subscriptions with batch (the default when zero).
func (e *benchEnv) dispatcher(b *testing.B, subs int, batch Batch) *Dispatcher {
	b.Helper()
	var ss []Subscription
	for i := range subs {
		s := sub(fmt.Sprintf("s%d", i), "builtin:svc", "bench.*")
		s.MaxInFlight = 256
		s.Batch = batch
		ss = append(ss, s)
	}
	d, err := New(b.Context(), Config{
		JS:            e.log.JetStream(),
		Subscriptions: ss,
		Conns:         map[string]*grpc.ClientConn{"svc": e.conn},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(b.Context()), 10*time.Second)
		defer cancel()
		_ = d.Stop(ctx)
	})
	return d
}

// appendAll appends n events with 64 concurrent appenders.
func (e *benchEnv) appendAll(b *testing.B, prefix string, n int) {
	b.Helper()
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 64 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				if _, err := e.log.Append(b.Context(), benchEvent(prefix+strconv.FormatInt(i, 10))); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func benchEvent(id string) *eventv1.Event {
	ev := event(id, "bench.created")
	ev.OriginalBody = make([]byte, 512)
	return ev
}

// BenchmarkUnaryBaseline: raw gRPC unary Deliver calls to the same consumer, 64
// concurrent callers: the ceiling for the dispatcher's deliveries.
func BenchmarkUnaryBaseline(b *testing.B) {
	e := newBenchEnv(b)
	client := consumerv1.NewEventConsumerServiceClient(e.conn)
	req := &consumerv1.DeliverRequest{Event: benchEvent("x"), Subscription: "raw", Attempt: 1}
	b.SetParallelism(32) // 2 cores x 32 = 64 callers
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := client.Deliver(b.Context(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// benchBatches are the delivery modes the drain and latency benchmarks compare
// in one run: one Deliver per event, and DeliverBatch at a few settings.
var benchBatches = []struct {
	name  string
	batch Batch
}{
	{"Deliver", Batch{MaxEvents: 1}},
	{"DeliverBatch", Batch{}}, // the default
	{"DeliverBatch/max_events=256", Batch{MaxEvents: 256}},
	{"DeliverBatch/max_wait=1ms", Batch{MaxWait: time.Millisecond}},
}

// BenchmarkDispatchDrain: b.N events already in the log are drained to three
// subscriptions (3*b.N deliveries): the backlog case, by Deliver and by
// DeliverBatch to the same counting consumer.
func BenchmarkDispatchDrain(b *testing.B) {
	for _, m := range benchBatches {
		b.Run(m.name, func(b *testing.B) { benchDrain(b, m.batch, 0) })
	}
}

// BenchmarkDispatchDrainSerialCommit is the drain to a consumer that commits
// each call on a single writer (200µs, an fsync): what group commit is for.
func BenchmarkDispatchDrainSerialCommit(b *testing.B) {
	for _, m := range benchBatches[:2] {
		b.Run(m.name, func(b *testing.B) { benchDrain(b, m.batch, 200*time.Microsecond) })
	}
}

func benchDrain(b *testing.B, batch Batch, commit time.Duration) {
	e := newBenchEnv(b)
	e.c.commit = commit
	d := e.dispatcher(b, 3, batch)
	e.appendAll(b, "d", b.N)
	e.c.seen = nil
	b.ResetTimer()
	if err := d.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	want := int64(3 * b.N)
	for e.c.n.Load() < want {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkEndToEndLatency appends at a steady rate (HOOKMESH_BENCH_RATE events/s,
// default 2000) for HOOKMESH_BENCH_SECONDS (default 5) with three subscriptions,
// and reports the latency from the append's acknowledgement to the consumer
// having the event, p50 and p99 over every delivery.
func BenchmarkEndToEndLatency(b *testing.B) {
	for _, m := range benchBatches {
		b.Run(m.name, func(b *testing.B) { benchLatency(b, m.batch) })
	}
}

func benchLatency(b *testing.B, batch Batch) {
	rate := envInt("HOOKMESH_BENCH_RATE", 2000)
	secs := envInt("HOOKMESH_BENCH_SECONDS", 5)
	for range b.N {
		e := newBenchEnv(b)
		d := e.dispatcher(b, 3, batch)
		if err := d.Start(b.Context()); err != nil {
			b.Fatal(err)
		}
		total := rate * secs
		acked := make([]time.Time, total)
		interval := time.Second / time.Duration(rate)
		start := time.Now()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 256)
		for i := range total {
			// Open loop: the i-th event is due at start + i*interval, late or not.
			if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
				time.Sleep(wait)
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if _, err := e.log.Append(b.Context(), benchEvent("l"+strconv.Itoa(i))); err != nil {
					b.Error(err)
					return
				}
				acked[i] = time.Now()
			})
		}
		wg.Wait()
		sent := time.Since(start)
		want := int64(3 * total)
		deadline := time.Now().Add(60 * time.Second)
		for e.c.n.Load() < want && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got := e.c.n.Load(); got < want {
			b.Fatalf("%d of %d deliveries", got, want)
		}
		var lat []time.Duration
		e.c.mu.Lock()
		for k, at := range e.c.seen {
			_, id, _ := cutLast(k)
			i, _ := strconv.Atoi(id[1:])
			lat = append(lat, at.Sub(acked[i]))
		}
		e.c.mu.Unlock()
		slices.Sort(lat)
		p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
		b.ReportMetric(p(0.50), "p50_ms")
		b.ReportMetric(p(0.99), "p99_ms")
		b.ReportMetric(p(1), "max_ms")
		b.ReportMetric(float64(total)/sent.Seconds(), "events/s")
		b.ReportMetric(float64(want)/sent.Seconds(), "deliveries/s")
	}
}

func cutLast(s string) (string, string, bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
