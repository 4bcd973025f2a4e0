package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/hookmesh/hookmesh/gateway/internal/dispatch/middleware"
	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// worker runs one subscription in this process: its two consumers (events, and
// parked retries/replays) feed attempts bounded by MaxInFlight slots.
type worker struct {
	d      *Dispatcher
	sub    Subscription
	globs  globs
	filter *filter
	conn   grpc.ClientConnInterface
	call   middleware.Handler
	slots  chan struct{}
	// spanName is the delivery span's name, built once.
	spanName string

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
		d:      d,
		sub:    *s,
		globs:  compileGlobs(s.Events),
		filter: f,
		conn:   conn,
		slots:  make(chan struct{}, s.MaxInFlight),

		spanName: "hookmesh.dispatch deliver " + s.Name,
	}
	w.runCtx, w.cancelRun = context.WithCancel(d.runCtx)
	w.mx = workerMetrics{
		inFlight:  d.m.inFlight.WithLabelValues(s.Name),
		delivered: d.m.deliveries.WithLabelValues(s.Name, outcomeDelivered),
		lag:       d.m.lag.WithLabelValues(s.Name),
		attemptOK: d.m.attempt.WithLabelValues(s.Name, codes.OK.String()),
	}
	client := consumerv1.NewEventConsumerServiceClient(conn)
	mws := []middleware.Middleware{middleware.Timeout(s.Timeout)}
	if s.Breaker != nil {
		mws = append([]middleware.Middleware{middleware.Breaker(middleware.BreakerConfig{
			Failures: s.Breaker.Failures,
			Cooldown: s.Breaker.Cooldown,
			Counts:   func(err error) bool { return Classify(status.Code(err)) == Retry },
			Now:      d.now,
		})}, mws...)
	}
	w.call = middleware.Chain(func(ctx context.Context, req *consumerv1.DeliverRequest) error {
		// Waiting for a (re)connecting target counts against the attempt's deadline
		// instead of failing at once: a restarting service costs no attempts.
		_, err := client.Deliver(ctx, req, grpc.WaitForReady(true))
		return err
	}, mws...)
	return w, nil
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

func (w *worker) isPaused() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.paused
}

// onEvent handles a message of HOOKMESH_EVENTS. Types outside the subscription's
// globs are acknowledged right here, without decoding.
func (w *worker) onEvent(msg jetstream.Msg) {
	if typ := msg.Headers().Get(hdrType); typ != "" && !w.globs.match(typ) {
		w.ack(msg)
		return
	}
	if w.d.stopping.Load() || w.isPausedNoLock() {
		_ = msg.Nak()
		return
	}
	w.inflight.Add(1)
	go w.process(msg, false)
}

// isPausedNoLock reads the flag without the lock (which a pause holds while it
// drains this very callback).
func (w *worker) isPausedNoLock() bool { return w.pausedFlag.Load() }

// onParked handles a parked retry or replay request: not due yet, it goes back
// to the server with the remaining delay, holding no slot.
func (w *worker) onParked(msg jetstream.Msg) {
	if nb, err := time.Parse(time.RFC3339Nano, msg.Headers().Get(hdrNotBefore)); err == nil {
		if wait := nb.Sub(w.d.now()); wait > 0 {
			_ = msg.NakWithDelay(wait)
			return
		}
	}
	if w.d.stopping.Load() || w.isPausedNoLock() {
		_ = msg.Nak()
		return
	}
	w.inflight.Add(1)
	go w.process(msg, true)
}

func (w *worker) ack(msg jetstream.Msg) {
	if err := msg.Ack(); err != nil {
		w.d.log.Warn("ack", "subscription", w.sub.Name, "error", err)
	}
}

// workerMetrics are the hot-path series, resolved once.
type workerMetrics struct {
	inFlight  prometheus.Gauge
	delivered prometheus.Counter
	lag       prometheus.Observer
	attemptOK prometheus.Observer
}

// job is one message to deliver.
type job struct {
	msg      jetstream.Msg
	parked   bool
	ev       *eventv1.Event
	data     []byte
	key      string
	cycle    string
	attempt  int32
	replay   bool
	seq      uint64
	received time.Time
	first    bool // first delivery of a fresh event: no state to read
	// replayStart: a replay request, the first message of a new cycle.
	replayStart bool
	// stored is the trace context stored with the event (invalid when none).
	stored trace.SpanContext
}

func (w *worker) decode(msg jetstream.Msg, parked bool) (*job, error) {
	meta, err := msg.Metadata()
	if err != nil {
		return nil, fmt.Errorf("message metadata: %w", err)
	}
	ev := &eventv1.Event{}
	if err := proto.Unmarshal(msg.Data(), ev); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	j := &job{msg: msg, parked: parked, ev: ev, data: msg.Data(), attempt: 1}
	j.key = stateKey(ev.GetSource(), ev.GetId(), w.sub.Name)
	h := msg.Headers()
	if !parked {
		j.seq = meta.Sequence.Stream
		j.cycle = "e" + strconv.FormatUint(j.seq, 10)
		j.received = meta.Timestamp
		j.first = meta.NumDelivered == 1
		return j, nil
	}
	j.replay = h.Get(hdrReplay) == "1"
	j.cycle = h.Get(hdrCycle)
	if j.cycle == "" {
		// A replay request starts a new cycle named after its own sequence.
		j.cycle = "p" + strconv.FormatUint(meta.Sequence.Stream, 10)
		j.replayStart = true
	}
	if n, err := strconv.Atoi(h.Get(hdrAttempt)); err == nil && n > 0 {
		j.attempt = int32(n)
	}
	j.seq, _ = strconv.ParseUint(h.Get(hdrSeq), 10, 64)
	if t, err := time.Parse(time.RFC3339Nano, h.Get(hdrReceived)); err == nil {
		j.received = t
	} else {
		j.received = meta.Timestamp
	}
	return j, nil
}

// bookkeepingTimeout bounds state writes and parking, independent of shutdown.
const bookkeepingTimeout = 10 * time.Second

func (w *worker) process(msg jetstream.Msg, parked bool) {
	defer w.inflight.Done()
	w.d.hb.add(msg)
	defer w.d.hb.remove(msg)
	ctx, cancel := context.WithTimeout(context.Background(), bookkeepingTimeout)
	defer cancel()

	j, err := w.decode(msg, parked)
	if err != nil {
		// Nothing can ever deliver it; keep the log moving and say so.
		w.d.log.Error("undecodable message terminated", "subscription", w.sub.Name, "subject", msg.Subject(), "error", err)
		_ = msg.Term()
		return
	}
	if !parked {
		if !w.globs.match(j.ev.GetType()) {
			w.ack(msg)
			return
		}
	}
	// Log lines before the attempt's span name the event's stored trace.
	j.stored = w.storedContext(j.ev)
	if j.stored.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, j.stored)
	}
	if !parked {
		if w.filter != nil {
			if done := w.applyFilter(ctx, j); done {
				return
			}
		}
	}
	var rec *record
	if !j.first {
		if rec, err = w.d.st.get(ctx, j.key); err != nil {
			w.d.log.WarnContext(ctx, "read delivery state; retrying message", "subscription", w.sub.Name, "event_id", j.ev.GetId(), "error", err)
			_ = msg.NakWithDelay(time.Second)
			return
		}
		if w.finished(rec, j) {
			w.ack(msg)
			return
		}
		if rec != nil && rec.Cycle == j.cycle {
			j.attempt = max(j.attempt, rec.lastInCycle(j.cycle)+1)
		}
	}

	select {
	case w.slots <- struct{}{}:
	case <-w.runCtx.Done():
		_ = msg.Nak()
		return
	}
	if w.d.stopping.Load() {
		<-w.slots
		_ = msg.Nak()
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

// finished reports whether the journal says this message's work is already done
// (a redelivery after a crash between bookkeeping and ack).
func (w *worker) finished(rec *record, j *job) bool {
	if rec == nil {
		return false
	}
	if rec.Cycle != j.cycle {
		// Another cycle (a replay) superseded this message's, unless it starts one.
		return !j.replayStart
	}
	switch rec.State {
	case adminv1.DeliveryState_DELIVERY_STATE_DELIVERED, adminv1.DeliveryState_DELIVERY_STATE_DEAD:
		return true
	case adminv1.DeliveryState_DELIVERY_STATE_RETRYING:
		// The retry is parked and will run; unless it is long overdue, which means
		// parking failed after the state was written: then deliver from here.
		return rec.Parked && !j.parked && w.d.now().Before(rec.Next.Add(w.sub.Timeout+w.d.cfg.AckMargin+time.Minute))
	}
	return false
}

func (w *worker) applyFilter(ctx context.Context, j *job) (done bool) {
	m, err := eventMap(j.ev)
	var ok bool
	if err == nil {
		ok, err = w.filter.match(m)
	}
	if ok {
		return false
	}
	rec := &record{State: adminv1.DeliveryState_DELIVERY_STATE_FILTERED, Cycle: j.cycle, Seq: j.seq, Updated: w.d.now()}
	outcome := outcomeFiltered
	if err != nil {
		rec.Note = err.Error()
		outcome = outcomeFilterError
		w.d.log.WarnContext(ctx, "filter error; event not delivered", "subscription", w.sub.Name, "event_id", j.ev.GetId(), "error", err)
	}
	if perr := w.d.st.put(ctx, j.key, rec); perr != nil {
		w.d.log.WarnContext(ctx, "record filtered state; retrying message", "subscription", w.sub.Name, "error", perr)
		_ = j.msg.NakWithDelay(time.Second)
		return true
	}
	w.d.m.deliveries.WithLabelValues(w.sub.Name, outcome).Inc()
	w.ack(j.msg)
	return true
}

// attempt makes one Deliver call in a consumer span that is a child of the
// event's stored trace context (or, for a replay, a new trace linked to it). The
// caller ends the span once the attempt is settled.
func (w *worker) attempt(j *job) (attempt, *status.Status, trace.Span) {
	ctx, span := w.startSpan(w.runCtx, j)
	if span.SpanContext().IsValid() {
		md := metadata.MD{}
		w.d.cfg.Propagator.Inject(ctx, metadataCarrier(md))
		ctx = metadata.NewOutgoingContext(ctx, md)
	}

	w.mx.inFlight.Inc()
	start := w.d.now()
	t0 := time.Now()
	err := w.call(ctx, &consumerv1.DeliverRequest{
		Event:        j.ev,
		Subscription: w.sub.Name,
		Attempt:      j.attempt,
		Replay:       j.replay,
	})
	dur := time.Since(t0)
	w.mx.inFlight.Dec()
	st := status.Convert(err)
	if err != nil && errors.Is(err, context.Canceled) && w.runCtx.Err() != nil {
		st = status.New(codes.Canceled, "dispatcher shutting down")
	}
	if st.Code() == codes.OK {
		w.mx.attemptOK.Observe(dur.Seconds())
	} else {
		w.d.m.attempt.WithLabelValues(w.sub.Name, st.Code().String()).Observe(dur.Seconds())
	}
	span.SetAttributes(attribute.String("rpc.grpc.status_code", st.Code().String()))
	if Classify(st.Code()) != Done {
		span.SetStatus(otelcodes.Error, st.Code().String())
	}
	traceID := ""
	if sc := span.SpanContext(); sc.HasTraceID() {
		traceID = sc.TraceID().String()
	}
	return attempt{
		Number:   j.attempt,
		Cycle:    j.cycle,
		Start:    start,
		Duration: dur,
		Code:     codeName(st.Code()),
		Message:  st.Message(),
		Replay:   j.replay,
		TraceID:  traceID,
	}, st, span
}

// storedContext is the trace context stored with ev (invalid when none).
func (w *worker) storedContext(ev *eventv1.Event) trace.SpanContext {
	if ev.GetTraceparent() == "" {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(w.d.cfg.Propagator.Extract(context.Background(), propagation.MapCarrier{
		"traceparent": ev.GetTraceparent(),
		"tracestate":  ev.GetTracestate(),
	}))
}

func (w *worker) startSpan(ctx context.Context, j *job) (context.Context, trace.Span) {
	sc := j.stored
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}
	if j.replay {
		// A replay is a new trace linked to the original (Promise 5).
		opts = append(opts, trace.WithNewRoot())
		if sc.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
		}
	} else if sc.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	ctx, span := w.d.tracer.Start(ctx, w.spanName, opts...)
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("hookmesh.subscription", w.sub.Name),
			attribute.Int("hookmesh.attempt", int(j.attempt)),
			attribute.Bool("hookmesh.replay", j.replay),
			attribute.String("hookmesh.event.type", j.ev.GetType()),
			attribute.String("hookmesh.event.source", j.ev.GetSource()),
			attribute.String("hookmesh.event.id", j.ev.GetId()),
		)
	}
	return ctx, span
}

// codeName is the gRPC code's canonical name, e.g. "UNAVAILABLE".
func codeName(c codes.Code) string {
	if c == codes.Canceled {
		return "CANCELLED"
	}
	return codeNames[c]
}

var codeNames = map[codes.Code]string{
	codes.OK: "OK", codes.Unknown: "UNKNOWN", codes.InvalidArgument: "INVALID_ARGUMENT",
	codes.DeadlineExceeded: "DEADLINE_EXCEEDED", codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
	codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED", codes.OutOfRange: "OUT_OF_RANGE",
	codes.Unimplemented: "UNIMPLEMENTED", codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE",
	codes.DataLoss: "DATA_LOSS", codes.Unauthenticated: "UNAUTHENTICATED",
}

// settle records the attempt and moves the message on: acknowledged when the
// consumer has it, parked for a retry, dead-lettered, or (our own shutdown)
// returned to the log for immediate redelivery.
func (w *worker) settle(ctx context.Context, j *job, rec *record, a attempt, st *status.Status) {
	if rec == nil {
		rec = &record{}
	}
	if rec.Cycle != j.cycle {
		rec.Cycle = j.cycle
		rec.DeadID = ""
	}
	if j.seq != 0 {
		rec.Seq = j.seq
	}
	rec.Attempts = append(rec.Attempts, a)
	rec.Updated = w.d.now()
	rec.Next = time.Time{}
	rec.Parked = false
	rec.Note = ""
	name := w.sub.Name
	// ctx carries the attempt's span: log lines get its trace and span ids.
	span := trace.SpanFromContext(ctx)
	// Built only on the paths that log: the delivered path is hot.
	log := func() *slog.Logger {
		return w.d.log.With("subscription", name, "event_id", j.ev.GetId(), "source", j.ev.GetSource(), "attempt", a.Number)
	}

	if w.runCtx.Err() != nil && st.Code() == codes.Canceled {
		rec.State = adminv1.DeliveryState_DELIVERY_STATE_RETRYING
		rec.Next = w.d.now()
		if err := w.d.st.put(ctx, j.key, rec); err != nil {
			log().WarnContext(ctx, "record cancelled attempt", "error", err)
		}
		w.d.m.deliveries.WithLabelValues(name, outcomeShutdown).Inc()
		markOutcome(span, outcomeShutdown)
		_ = j.msg.Nak()
		return
	}

	outcome := Classify(st.Code())
	var delay time.Duration
	reason := "terminal: " + a.Code
	if outcome == Retry {
		var again bool
		delay, again = w.sub.Retry.next(int(a.Number), w.d.rand(), retryHint(st))
		if !again {
			outcome, reason = Dead, "exhausted"
		}
	}
	w.health.observe(outcome, st.Code(), w.d.now())

	switch outcome {
	case Done:
		rec.State = adminv1.DeliveryState_DELIVERY_STATE_DELIVERED
		rec.DeadID = ""
		if err := w.d.st.put(ctx, j.key, rec); err != nil {
			// The consumer has it; a redelivery would be answered ALREADY_EXISTS.
			log().WarnContext(ctx, "record delivered state", "error", err)
		}
		markOutcome(span, outcomeDelivered)
		w.ack(j.msg)
		w.delivered.Add(1)
		w.mx.delivered.Inc()
		if !j.received.IsZero() {
			w.mx.lag.Observe(time.Since(j.received).Seconds())
		}
	case Retry:
		// The state is written before the retry is parked, so that the parked
		// attempt (possibly due at once) finds this one in the history.
		due := w.d.now().Add(delay)
		rec.State = adminv1.DeliveryState_DELIVERY_STATE_RETRYING
		rec.Next = due
		rec.Parked = true
		if err := w.d.st.put(ctx, j.key, rec); err != nil {
			log().WarnContext(ctx, "record retrying state; message returns after a delay", "error", err)
			_ = j.msg.NakWithDelay(delay)
			return
		}
		if err := w.park(ctx, j, a.Number+1, due); err != nil {
			log().WarnContext(ctx, "park retry; message returns after a delay", "error", err)
			rec.Parked = false
			if err := w.d.st.put(ctx, j.key, rec); err != nil {
				log().WarnContext(ctx, "record unparked state", "error", err)
			}
			_ = j.msg.NakWithDelay(delay)
			return
		}
		w.ack(j.msg)
		w.d.m.deliveries.WithLabelValues(name, outcomeRetry).Inc()
		w.d.m.retries.WithLabelValues(name).Inc()
		markOutcome(span, outcomeRetry, attribute.Int64("hookmesh.retry.delay_ms", delay.Milliseconds()))
		log().InfoContext(ctx, "delivery failed; retry parked", "code", a.Code, "delay", delay)
	case Dead:
		id, err := w.d.deadLetter(ctx, name, j, rec, reason)
		if err != nil {
			log().ErrorContext(ctx, "write dead letter; message returns after a delay", "error", err)
			_ = j.msg.NakWithDelay(time.Second)
			return
		}
		rec.State = adminv1.DeliveryState_DELIVERY_STATE_DEAD
		rec.DeadID = id
		if err := w.d.st.put(ctx, j.key, rec); err != nil {
			log().WarnContext(ctx, "record dead state", "error", err)
		}
		if j.parked {
			w.ack(j.msg)
		} else if err := j.msg.Term(); err != nil {
			log().WarnContext(ctx, "terminate message", "error", err)
		}
		kind := "terminal"
		if reason == "exhausted" {
			kind = "exhausted"
		}
		w.d.m.deliveries.WithLabelValues(name, outcomeDead).Inc()
		w.d.m.deadLetters.WithLabelValues(name, kind).Inc()
		markOutcome(span, outcomeDead, attribute.String("hookmesh.dead_letter.id", id), attribute.String("hookmesh.dead_letter.reason", kind))
		span.AddEvent("dead letter", trace.WithAttributes(attribute.String("hookmesh.dead_letter.id", id), attribute.String("hookmesh.dead_letter.reason", reason)))
		log().WarnContext(ctx, "delivery dead-lettered", "code", a.Code, "reason", reason, "dead_letter_id", id)
	}
}

// markOutcome records how the attempt was settled on its span (delivered,
// retry, dead, shutdown), with extra attributes.
func markOutcome(span trace.Span, outcome string, attrs ...attribute.KeyValue) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(append(attrs, attribute.String("hookmesh.delivery.outcome", outcome))...)
}

// park publishes the next attempt to the retry subject, due at due.
func (w *worker) park(ctx context.Context, j *job, next int32, due time.Time) error {
	m := nats.NewMsg(w.d.l.retrySubject(w.sub.Name))
	m.Data = j.data
	w.parkHeaders(m.Header, j, next, due)
	_, err := w.d.js.PublishMsg(ctx, m, jetstream.WithMsgID(
		"retry/"+w.sub.Name+"/"+j.key+"/"+j.cycle+"/"+strconv.Itoa(int(next))))
	if err != nil {
		return fmt.Errorf("publish retry: %w", err)
	}
	return nil
}

func (w *worker) parkHeaders(h nats.Header, j *job, next int32, due time.Time) {
	h.Set(hdrType, j.ev.GetType())
	h.Set(hdrAttempt, strconv.Itoa(int(next)))
	h.Set(hdrCycle, j.cycle)
	h.Set(hdrNotBefore, due.UTC().Format(time.RFC3339Nano))
	h.Set(hdrSeq, strconv.FormatUint(j.seq, 10))
	h.Set(hdrReceived, j.received.UTC().Format(time.RFC3339Nano))
	if j.replay {
		h.Set(hdrReplay, "1")
	}
}

// metadataCarrier adapts gRPC metadata to the propagator.
type metadataCarrier metadata.MD

func (c metadataCarrier) Get(k string) string {
	if v := metadata.MD(c).Get(k); len(v) > 0 {
		return v[0]
	}
	return ""
}
func (c metadataCarrier) Set(k, v string) { metadata.MD(c).Set(k, v) }
func (c metadataCarrier) Keys() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	return out
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
