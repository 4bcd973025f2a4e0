package dispatch

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

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

// prepare decodes msg and decides whether it needs an attempt: false when it
// was settled here (undecodable, another type, filtered out, already finished)
// or returned to the server. rec is the delivery state read for a redelivery.
func (w *worker) prepare(ctx context.Context, msg jetstream.Msg, parked bool) (*job, *record, bool) {
	j, err := w.decode(msg, parked)
	if err != nil {
		// Nothing can ever deliver it; keep the log moving and say so.
		w.d.log.Error("undecodable message terminated", "subscription", w.sub.Name, "subject", msg.Subject(), "error", err)
		_ = msg.Term()
		return nil, nil, false
	}
	if !parked && !w.globs.match(j.ev.GetType()) {
		w.ack(msg)
		return nil, nil, false
	}
	if !parked && !j.first {
		// Retries are parked as new messages, so a delivery count above 1 means an
		// earlier delivery went unacknowledged (ack wait passed) or was returned
		// (shutdown, pause, failed bookkeeping).
		w.mx.redeliveries.Inc()
	}
	// Log lines before the attempt's span name the event's stored trace.
	j.stored = w.storedContext(j.ev)
	if j.stored.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, j.stored)
	}
	if !parked && w.filter != nil && w.applyFilter(ctx, j) {
		return nil, nil, false
	}
	if j.first {
		return j, nil, true
	}
	rec, err := w.d.st.get(ctx, j.key)
	if err != nil {
		w.d.log.WarnContext(ctx, "read delivery state; retrying message", "subscription", w.sub.Name, "event_id", j.ev.GetId(), "error", err)
		_ = msg.NakWithDelay(time.Second)
		return nil, nil, false
	}
	if w.finished(rec, j) {
		w.ack(msg)
		return nil, nil, false
	}
	if rec != nil && rec.Cycle == j.cycle {
		j.attempt = max(j.attempt, rec.lastInCycle(j.cycle)+1)
	}
	return j, rec, true
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
	if parked {
		j.fromParked(msg.Headers(), meta)
	} else {
		j.fromEvent(meta)
	}
	return j, nil
}

// fromEvent fills a message of the event stream: cycle e<seq>.
func (j *job) fromEvent(meta *jetstream.MsgMetadata) {
	j.seq = meta.Sequence.Stream
	j.cycle = "e" + strconv.FormatUint(j.seq, 10)
	j.received = meta.Timestamp
	j.first = meta.NumDelivered == 1
}

// fromParked fills a parked retry (its headers name cycle and attempt) or a
// replay request (no cycle yet: it starts p<its own seq>).
func (j *job) fromParked(h nats.Header, meta *jetstream.MsgMetadata) {
	get := h.Get
	j.replay = get(hdrReplay) == "1"
	j.cycle = get(hdrCycle)
	if j.cycle == "" {
		j.cycle = "p" + strconv.FormatUint(meta.Sequence.Stream, 10)
		j.replayStart = true
	}
	if n, err := strconv.Atoi(get(hdrAttempt)); err == nil && n > 0 {
		j.attempt = int32(n)
	}
	j.seq, _ = strconv.ParseUint(get(hdrSeq), 10, 64)
	if t, err := time.Parse(time.RFC3339Nano, get(hdrReceived)); err == nil {
		j.received = t
	} else {
		j.received = meta.Timestamp
	}
}

// finished reports whether the journal says this message's work is already done
// (a redelivery after a crash between bookkeeping and ack): doc.go's bound.
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

// applyFilter records FILTERED (then acks) when the filter does not select the
// event; it reports whether the message was settled here.
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
