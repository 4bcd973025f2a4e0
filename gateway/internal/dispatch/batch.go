package dispatch

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	"github.com/hookmesh/hookmesh/platform/spanattr"
)

// Batching defaults and limits.
const (
	DefaultBatchMaxEvents = 64
	MaxBatchMaxEvents     = 1024
	MaxBatchMaxWait       = time.Second
	// batchCalls bounds the DeliverBatch calls of one subscription in flight at
	// once: a second one starts only for a full batch (pipelining).
	batchCalls = 2
	// batchMaxBytes keeps a call under gRPC's default 4 MiB receive limit,
	// which most consumers keep: a batch closes before it would pass this (one
	// event alone may be larger, as by Deliver).
	batchMaxBytes = 3 << 20
	// reprobeAfter is how long a target that answered UNIMPLEMENTED gets Deliver
	// only before DeliverBatch is tried again (it may have been upgraded).
	reprobeAfter = 10 * time.Minute
)

// Batch groups the attempts of a subscription that are ready together into one
// DeliverBatch call. Group commit: a batch goes when no call is in flight, when
// the previous call returns, or when it is full; MaxWait, when set, lingers that
// long for more events before a call that finds the subscription idle.
type Batch struct {
	// MaxEvents bounds the events of one call (default 64, 1..1024); 1 turns
	// batching off (Deliver per event).
	MaxEvents int
	// MaxWait is the linger before a call from idle (default 0, at most 1s).
	MaxWait time.Duration
}

// pendingCall is one event's attempt waiting for (or in) a batch call.
type pendingCall struct {
	ctx  context.Context
	req  *consumerv1.DeliverRequest
	link trace.Link
	bd   *consumerv1.BatchDelivery
	size int        // of bd, encoded
	done chan error // buffered: the call never blocks on an abandoned caller
}

// batcher coalesces the concurrent Deliver calls of one subscription into
// DeliverBatch calls and hands each caller its own status, as the error a
// Deliver call would have returned, so that classification, retry hints and
// everything after the attempt stay as they are.
type batcher struct {
	w      *worker
	client consumerv1.EventConsumerServiceClient
	max    int
	wait   time.Duration
	calls  int // the limit of calls in flight
	// fallback is hookmesh_dispatch_batch_fallback of the subscription.
	fallback prometheus.Gauge

	mu      sync.Mutex
	queue   []*pendingCall
	queued  int // bytes in queue
	running int
	full    chan struct{} // wakes a lingering call when the queue is full
}

func newBatcher(w *worker, client consumerv1.EventConsumerServiceClient) *batcher {
	return &batcher{
		w:      w,
		client: client,
		max:    w.sub.Batch.MaxEvents,
		wait:   w.sub.Batch.MaxWait,
		calls:  max(1, min(batchCalls, w.sub.MaxInFlight)),
		full:   make(chan struct{}, 1),

		fallback: w.d.m.batchFallback.WithLabelValues(w.sub.Name),
	}
}

// unimplemented remembers, per connection, when a target answered DeliverBatch
// with UNIMPLEMENTED (shared by the subscriptions on that connection).
type unimplemented struct {
	mu    sync.Mutex
	since map[grpc.ClientConnInterface]time.Time
}

func (u *unimplemented) fallback(conn grpc.ClientConnInterface, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	t, ok := u.since[conn]
	if ok && now.Sub(t) >= reprobeAfter {
		delete(u.since, conn) // re-probe
		return false
	}
	return ok
}

func (u *unimplemented) mark(conn grpc.ClientConnInterface, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.since == nil {
		u.since = map[grpc.ClientConnInterface]time.Time{}
	}
	u.since[conn] = now
}

// deliver is one event's call: by Deliver when the target lacks DeliverBatch,
// otherwise queued for the next batch.
func (b *batcher) deliver(ctx context.Context, req *consumerv1.DeliverRequest) error {
	if b.w.d.unimpl.fallback(b.w.conn, b.w.d.now()) {
		b.fallback.Set(1)
		return b.single(ctx, req)
	}
	p := &pendingCall{ctx: ctx, req: req, done: make(chan error, 1)}
	p.bd = &consumerv1.BatchDelivery{Event: req.GetEvent(), Attempt: req.GetAttempt(), Replay: req.GetReplay()}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		p.link = trace.Link{SpanContext: sc}
		carrier := propagation.MapCarrier{}
		b.w.d.cfg.Propagator.Inject(ctx, carrier)
		p.bd.Traceparent, p.bd.Tracestate = carrier["traceparent"], carrier["tracestate"]
	}
	p.size = proto.Size(p.bd)
	b.mu.Lock()
	b.queue = append(b.queue, p)
	b.queued += p.size
	full := len(b.queue) >= b.max || b.queued >= batchMaxBytes
	if full {
		select { // ends a linger
		case b.full <- struct{}{}:
		default:
		}
	}
	if b.running == 0 || (full && b.running < b.calls) {
		b.running++
		go b.run(b.running == 1 && b.wait > 0)
	}
	b.mu.Unlock()
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		// Our deadline or shutdown; the batch may still carry the event (a
		// consumer answers its redelivery ALREADY_EXISTS).
		return status.FromContextError(ctx.Err()).Err()
	}
}

func (b *batcher) single(ctx context.Context, req *consumerv1.DeliverRequest) error {
	_, err := b.client.Deliver(ctx, req, grpc.WaitForReady(true))
	return err
}

// run makes batch calls until the queue is empty.
func (b *batcher) run(linger bool) {
	if linger {
		b.linger()
	}
	for {
		b.mu.Lock()
		batch := b.take()
		if len(batch) == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		b.call(batch)
	}
}

// linger waits up to max_wait for a full batch.
func (b *batcher) linger() {
	select { // a full signal from before this call is stale
	case <-b.full:
	default:
	}
	b.mu.Lock()
	full := len(b.queue) >= b.max || b.queued >= batchMaxBytes
	b.mu.Unlock()
	if full {
		return
	}
	t := time.NewTimer(b.wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-b.full:
	case <-b.w.runCtx.Done():
	}
}

// take removes up to max live callers, within batchMaxBytes, from the queue
// (b.mu held); callers that gave up already are dropped.
func (b *batcher) take() []*pendingCall {
	var batch []*pendingCall
	n, bytes := 0, 0
	for _, p := range b.queue {
		if p.ctx.Err() == nil {
			if len(batch) == b.max || (len(batch) > 0 && bytes+p.size > batchMaxBytes) {
				break
			}
			batch = append(batch, p)
			bytes += p.size
		}
		n++
		b.queued -= p.size
	}
	b.queue = slices.Delete(b.queue, 0, n)
	return batch
}

// call makes one DeliverBatch call for batch and answers every caller.
func (b *batcher) call(batch []*pendingCall) {
	w := b.w
	links := make([]trace.Link, 0, len(batch))
	req := &consumerv1.DeliverBatchRequest{Subscription: w.sub.Name, Deliveries: make([]*consumerv1.BatchDelivery, len(batch))}
	for i, p := range batch {
		req.Deliveries[i] = p.bd
		if p.link.SpanContext.IsValid() {
			links = append(links, p.link)
		}
	}
	// The call's own span is a root linked to every event's delivery span: it
	// belongs to no single event's trace.
	ctx, span := w.d.tracer.Start(w.runCtx, w.batchSpanName,
		trace.WithNewRoot(), trace.WithLinks(links...), trace.WithSpanKind(trace.SpanKindClient))
	span.SetAttributes(
		spanattr.KeySubscription.String(w.sub.Name),
		attribute.Int("messaging.batch.message_count", len(batch)),
	)
	ctx, cancel := context.WithTimeout(ctx, w.sub.Timeout)
	resp, err := b.client.DeliverBatch(ctx, req, grpc.WaitForReady(true))
	cancel()
	span.SetAttributes(attribute.String("rpc.grpc.status_code", status.Code(err).String()))
	span.End()
	w.d.m.batchEvents.WithLabelValues(w.sub.Name).Observe(float64(len(batch)))

	if status.Code(err) == codes.Unimplemented {
		// No DeliverBatch: these events and the subscription's next ones go by
		// Deliver at once, not to dead letters.
		w.d.unimpl.mark(w.conn, w.d.now())
		b.fallback.Set(1)
		w.d.log.Info("target has no DeliverBatch; delivering one event per call", "subscription", w.sub.Name, "target", w.sub.Target)
		var wg sync.WaitGroup
		for _, p := range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.done <- b.single(p.ctx, p.req)
			}()
		}
		wg.Wait()
		return
	}
	b.fallback.Set(0)
	if err == nil && len(resp.GetStatuses()) != len(batch) {
		err = status.Errorf(codes.Internal, "DeliverBatch answered %d statuses for %d events", len(resp.GetStatuses()), len(batch))
	}
	for i, p := range batch {
		if err != nil {
			p.done <- err // the call's status applies to every event in it
			continue
		}
		p.done <- statusError(resp.GetStatuses()[i])
	}
}

// statusError is the error Deliver would have returned for s.
func statusError(s *consumerv1.DeliveryStatus) error {
	if s.GetCode() == int32(codes.OK) {
		return nil
	}
	st := status.New(codes.Code(s.GetCode()), s.GetMessage())
	if d := s.GetRetryDelay(); d != nil {
		if wd, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d.AsDuration())}); err == nil {
			st = wd
		}
	}
	return st.Err()
}

// batchSpanName names a subscription's DeliverBatch call spans.
func batchSpanName(sub string) string { return fmt.Sprintf("%s batch", deliverySpanName(sub)) }
