package dispatch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/hookmesh/hookmesh/gateway/internal/dispatch/middleware"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
)

// worker runs one subscription in this process: its two consumers (events, and
// parked retries/replays) feed attempts bounded by MaxInFlight slots. A message
// goes through process (job.go: decode, filter, the finished check), attempt
// (attempt.go: one Deliver call in its span, or its place in a DeliverBatch
// call, batch.go) and settle (settle.go: the record
// and the message moved on in the order doc.go states).
type worker struct {
	d      *Dispatcher
	sub    Subscription
	globs  globs
	filter *filter
	conn   grpc.ClientConnInterface
	call   middleware.Handler
	slots  chan struct{}
	// spanName is the delivery span's name, built once; batchSpanName the
	// DeliverBatch call's.
	spanName, batchSpanName string

	events, retry jetstream.Consumer

	mu         sync.Mutex
	paused     bool
	pausedFlag atomic.Bool // paused, readable without mu
	running    bool
	ccs        []jetstream.ConsumeContext

	inflight sync.WaitGroup
	// runCtx carries this subscription's attempts: the dispatcher's, cancelled
	// early at Stop when the target is not connected (nothing was sent).
	runCtx    context.Context
	cancelRun context.CancelFunc
	delivered atomic.Int64
	mx        workerMetrics
	health    healthState
}

// workerMetrics are the hot-path series, resolved once.
type workerMetrics struct {
	inFlight     prometheus.Gauge
	delivered    prometheus.Counter
	lag          prometheus.Observer
	attemptOK    prometheus.Observer
	redeliveries prometheus.Counter
}

func (d *Dispatcher) newWorker(s *Subscription) (*worker, error) {
	f, err := compileFilter(s.Filter)
	if err != nil {
		return nil, fmt.Errorf("subscription %q: %w", s.Name, err)
	}
	conn, own, err := d.resolveTarget(s)
	if err != nil {
		return nil, err
	}
	if own != nil {
		d.own = append(d.own, own)
	}
	w := &worker{
		d:        d,
		sub:      *s,
		globs:    compileGlobs(s.Events),
		filter:   f,
		conn:     conn,
		slots:    make(chan struct{}, s.MaxInFlight),
		spanName: deliverySpanName(s.Name),

		batchSpanName: batchSpanName(s.Name),
	}
	w.runCtx, w.cancelRun = context.WithCancel(d.runCtx)
	w.mx = workerMetrics{
		inFlight:     d.m.inFlight.WithLabelValues(s.Name),
		delivered:    d.m.deliveries.WithLabelValues(s.Name, outcomeDelivered),
		lag:          d.m.lag.WithLabelValues(s.Name),
		attemptOK:    d.m.attempt.WithLabelValues(s.Name, codes.OK.String()),
		redeliveries: d.m.redeliveries.WithLabelValues(s.Name),
	}
	w.call = w.deliverChain(consumerv1.NewEventConsumerServiceClient(conn))
	return w, nil
}

// deliverChain is the Deliver call behind the subscription's middleware: the
// breaker (when configured) outside the per-attempt timeout; with batching, the
// call is the batcher's (batch.go).
func (w *worker) deliverChain(client consumerv1.EventConsumerServiceClient) middleware.Handler {
	mws := []middleware.Middleware{middleware.Timeout(w.sub.Timeout)}
	if b := w.sub.Breaker; b != nil {
		mws = append([]middleware.Middleware{middleware.Breaker(middleware.BreakerConfig{
			Failures: b.Failures,
			Cooldown: b.Cooldown,
			Counts:   func(err error) bool { return Classify(status.Code(err)) == Retry },
			Now:      w.d.now,
		})}, mws...)
	}
	if w.sub.Batch.MaxEvents > 1 {
		return middleware.Chain(newBatcher(w, client).deliver, mws...)
	}
	return middleware.Chain(func(ctx context.Context, req *consumerv1.DeliverRequest) error {
		// Waiting for a (re)connecting target counts against the attempt's deadline
		// instead of failing at once: a restarting service costs no attempts.
		_, err := client.Deliver(ctx, req, grpc.WaitForReady(true))
		return err
	}, mws...)
}

// start begins consuming unless the subscription is paused.
func (w *worker) start() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.running = true
	if w.paused {
		return nil
	}
	return w.consumeLocked()
}

func (w *worker) consumeLocked() error {
	errh := jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if !errors.Is(err, jetstream.ErrNoHeartbeat) {
			w.d.log.Debug("consume", "subscription", w.sub.Name, "error", err)
		}
	})
	cc1, err := w.events.Consume(w.onEvent, jetstream.PullMaxMessages(w.sub.MaxInFlight), errh)
	if err != nil {
		return fmt.Errorf("subscription %q: consume events: %w", w.sub.Name, err)
	}
	cc2, err := w.retry.Consume(w.onParked, jetstream.PullMaxMessages(max(w.sub.MaxInFlight, 256)), errh)
	if err != nil {
		cc1.Stop()
		return fmt.Errorf("subscription %q: consume retries: %w", w.sub.Name, err)
	}
	w.ccs = []jetstream.ConsumeContext{cc1, cc2}
	return nil
}

func (w *worker) stopLocked() {
	for _, cc := range w.ccs {
		cc.Drain()
	}
	for _, cc := range w.ccs {
		<-cc.Closed()
	}
	w.ccs = nil
}

func (w *worker) stopConsuming() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.running = false
	w.stopLocked()
}

// setPaused applies the cluster-wide flag: stop pulling (buffered messages are
// returned), or pull again.
func (w *worker) setPaused(p bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.paused == p {
		return
	}
	w.paused = p
	w.pausedFlag.Store(p)
	if p {
		w.stopLocked()
		w.d.log.Info("subscription paused", "subscription", w.sub.Name)
		return
	}
	if w.running && !w.d.stopping.Load() {
		if err := w.consumeLocked(); err != nil {
			w.d.log.Error("resume subscription", "subscription", w.sub.Name, "error", err)
			return
		}
	}
	w.d.log.Info("subscription resumed", "subscription", w.sub.Name)
}

// isPaused reads the flag without the lock (which a pause holds while it drains
// the very callbacks that ask).
func (w *worker) isPaused() bool { return w.pausedFlag.Load() }

// onEvent handles a message of the event stream. Types outside the
// subscription's globs are acknowledged right here, without decoding.
func (w *worker) onEvent(msg jetstream.Msg) {
	if typ := msg.Headers().Get(hdrType); typ != "" && !w.globs.match(typ) {
		w.ack(msg)
		return
	}
	w.begin(msg, false)
}

// onParked handles a parked retry or replay request: not due yet, it goes back
// to the server with the remaining delay, holding no slot.
func (w *worker) onParked(msg jetstream.Msg) {
	if nb, err := time.Parse(time.RFC3339Nano, msg.Headers().Get(hdrNotBefore)); err == nil {
		if wait := nb.Sub(w.d.now()); wait > 0 {
			_ = msg.NakWithDelay(wait)
			return
		}
	}
	w.begin(msg, true)
}

// begin hands msg to its own goroutine, or returns it to the server while the
// subscription is stopping or paused.
func (w *worker) begin(msg jetstream.Msg, parked bool) {
	if w.d.stopping.Load() || w.isPaused() {
		_ = msg.Nak()
		return
	}
	w.inflight.Add(1)
	go w.process(msg, parked)
}

func (w *worker) ack(msg jetstream.Msg) {
	if err := msg.Ack(); err != nil {
		w.d.log.Warn("ack", "subscription", w.sub.Name, "error", err)
	}
}

// bookkeepingTimeout bounds state writes and parking, independent of shutdown.
const bookkeepingTimeout = 10 * time.Second

// process takes one message from decoding to settled, holding a slot only for
// the attempt itself.
func (w *worker) process(msg jetstream.Msg, parked bool) {
	defer w.inflight.Done()
	w.d.hb.add(msg)
	defer w.d.hb.remove(msg)
	ctx, cancel := context.WithTimeout(context.Background(), bookkeepingTimeout)
	defer cancel()

	j, rec, ok := w.prepare(ctx, msg, parked)
	if !ok {
		return
	}
	if !w.acquire(msg) {
		return
	}
	a, st, span := w.attempt(j)
	<-w.slots
	// The attempt's span covers its settling too, so that it says how the attempt
	// ended (delivered, retry parked, dead letter) and the logs carry its ids.
	// Fresh bookkeeping time: the attempt itself may have outlasted ctx's.
	sctx, scancel := context.WithTimeout(context.Background(), bookkeepingTimeout)
	defer scancel()
	w.settle(trace.ContextWithSpan(sctx, span), j, rec, a, st)
	span.End()
}

// acquire takes a delivery slot; false when shutdown came first (the message
// has been returned to the server).
func (w *worker) acquire(msg jetstream.Msg) bool {
	select {
	case w.slots <- struct{}{}:
	case <-w.runCtx.Done():
		_ = msg.Nak()
		return false
	}
	if w.d.stopping.Load() {
		<-w.slots
		_ = msg.Nak()
		return false
	}
	return true
}

// cancelIfUnconnected cancels the attempts of a subscription whose target has no
// ready connection: they are still waiting for one (WaitForReady) and have sent
// nothing, so Stop need not wait out their deadline; they are retried after the
// restart like any attempt cancelled by shutdown.
func (w *worker) cancelIfUnconnected() {
	cc, ok := w.conn.(*grpc.ClientConn)
	if ok && cc.GetState() != connectivity.Ready {
		w.cancelRun()
	}
}
