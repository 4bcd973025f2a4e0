package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	"github.com/hookmesh/hookmesh/platform/spanattr"
)

// Dead letter reasons other than "terminal: <code>".
const reasonExhausted = "exhausted"

// settle records the attempt and moves the message on, in the order doc.go
// states: acknowledged when the consumer has it, parked for a retry,
// dead-lettered, or (our own shutdown) returned to the log for immediate
// redelivery. ctx carries the attempt's span: log lines get its ids.
func (w *worker) settle(ctx context.Context, j *job, rec *record, a attempt, st *status.Status) {
	rec = w.withAttempt(rec, j, a)
	if w.runCtx.Err() != nil && st.Code() == codes.Canceled {
		w.settleShutdown(ctx, j, rec, a)
		return
	}
	outcome, delay, reason := w.judge(a, st)
	w.health.observe(outcome, st.Code())
	switch outcome {
	case Done:
		w.settleDelivered(ctx, j, rec, a)
	case Retry:
		w.settleRetry(ctx, j, rec, a, delay)
	case Dead:
		w.settleDead(ctx, j, rec, a, reason)
	}
}

// withAttempt is rec (a new one when nil) in j's cycle with a appended and the
// per-state fields cleared.
func (w *worker) withAttempt(rec *record, j *job, a attempt) *record {
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
	return rec
}

// judge applies the consumer contract and the retry policy to the answer: the
// outcome, the delay of a retry, the reason of a dead letter.
func (w *worker) judge(a attempt, st *status.Status) (Outcome, time.Duration, string) {
	outcome := Classify(st.Code())
	if outcome != Retry {
		return outcome, 0, "terminal: " + a.Code
	}
	delay, again := w.sub.Retry.next(int(a.Number), w.d.rand(), retryHint(st))
	if !again {
		return Dead, 0, reasonExhausted
	}
	return Retry, delay, ""
}

// attemptLog is the logger of the settling paths that log (not the hot one).
func (w *worker) attemptLog(j *job, a attempt) *slog.Logger {
	return w.d.log.With("subscription", w.sub.Name, "event_id", j.ev.GetId(), "source", j.ev.GetSource(), "attempt", a.Number)
}

// settleShutdown: RETRYING, due now, and the message back to the log at once.
func (w *worker) settleShutdown(ctx context.Context, j *job, rec *record, a attempt) {
	rec.State = adminv1.DeliveryState_DELIVERY_STATE_RETRYING
	rec.Next = w.d.now()
	if err := w.d.st.put(ctx, j.key, rec); err != nil {
		w.attemptLog(j, a).WarnContext(ctx, "record cancelled attempt", "error", err)
	}
	w.d.m.deliveries.WithLabelValues(w.sub.Name, outcomeShutdown).Inc()
	markOutcome(trace.SpanFromContext(ctx), outcomeShutdown)
	_ = j.msg.Nak()
}

// settleDelivered: DELIVERED, then ack.
func (w *worker) settleDelivered(ctx context.Context, j *job, rec *record, a attempt) {
	rec.State = adminv1.DeliveryState_DELIVERY_STATE_DELIVERED
	rec.DeadID = ""
	if err := w.d.st.put(ctx, j.key, rec); err != nil {
		// The consumer has it; a redelivery would be answered ALREADY_EXISTS.
		w.attemptLog(j, a).WarnContext(ctx, "record delivered state", "error", err)
	}
	markOutcome(trace.SpanFromContext(ctx), outcomeDelivered)
	w.ack(j.msg)
	w.delivered.Add(1)
	w.mx.delivered.Inc()
	if !j.received.IsZero() {
		w.mx.lag.Observe(time.Since(j.received).Seconds())
	}
}

// settleRetry: RETRYING, the next attempt parked, then ack; on a failure the
// message itself comes back after the delay.
func (w *worker) settleRetry(ctx context.Context, j *job, rec *record, a attempt, delay time.Duration) {
	if !w.parkRetry(ctx, j, rec, a, delay) {
		_ = j.msg.NakWithDelay(delay)
		return
	}
	w.ack(j.msg)
	w.d.m.deliveries.WithLabelValues(w.sub.Name, outcomeRetry).Inc()
	w.d.m.retries.WithLabelValues(w.sub.Name).Inc()
	markOutcome(trace.SpanFromContext(ctx), outcomeRetry, spanattr.KeyRetryDelayMS.Int64(delay.Milliseconds()))
	w.attemptLog(j, a).InfoContext(ctx, "delivery failed; retry parked", "code", a.Code, "delay", delay)
}

// parkRetry writes RETRYING, then parks the next attempt: the state comes first
// so that the parked attempt (possibly due at once) finds this one in the
// history. It reports whether both writes succeeded.
func (w *worker) parkRetry(ctx context.Context, j *job, rec *record, a attempt, delay time.Duration) bool {
	due := w.d.now().Add(delay)
	rec.State = adminv1.DeliveryState_DELIVERY_STATE_RETRYING
	rec.Next = due
	rec.Parked = true
	if err := w.d.st.put(ctx, j.key, rec); err != nil {
		w.attemptLog(j, a).WarnContext(ctx, "record retrying state; message returns after a delay", "error", err)
		return false
	}
	if err := w.park(ctx, j, a.Number+1, due); err != nil {
		log := w.attemptLog(j, a)
		log.WarnContext(ctx, "park retry; message returns after a delay", "error", err)
		rec.Parked = false
		if err := w.d.st.put(ctx, j.key, rec); err != nil {
			log.WarnContext(ctx, "record unparked state", "error", err)
		}
		return false
	}
	return true
}

// settleDead: the dead letter, then DEAD with its id, then the message
// terminated (an event) or acknowledged (a parked one).
func (w *worker) settleDead(ctx context.Context, j *job, rec *record, a attempt, reason string) {
	log := w.attemptLog(j, a)
	id, err := w.d.deadLetter(ctx, w.sub.Name, j, rec, reason)
	if err != nil {
		log.ErrorContext(ctx, "write dead letter; message returns after a delay", "error", err)
		_ = j.msg.NakWithDelay(time.Second)
		return
	}
	rec.State = adminv1.DeliveryState_DELIVERY_STATE_DEAD
	rec.DeadID = id
	if err := w.d.st.put(ctx, j.key, rec); err != nil {
		log.WarnContext(ctx, "record dead state", "error", err)
	}
	if j.parked {
		w.ack(j.msg)
	} else if err := j.msg.Term(); err != nil {
		log.WarnContext(ctx, "terminate message", "error", err)
	}
	kind := "terminal"
	if reason == reasonExhausted {
		kind = reasonExhausted
	}
	w.d.m.deliveries.WithLabelValues(w.sub.Name, outcomeDead).Inc()
	w.d.m.deadLetters.WithLabelValues(w.sub.Name, kind).Inc()
	span := trace.SpanFromContext(ctx)
	markOutcome(span, outcomeDead, spanattr.KeyDeadLetterID.String(id), spanattr.KeyDeadLetterReason.String(kind))
	span.AddEvent("dead letter", trace.WithAttributes(spanattr.KeyDeadLetterID.String(id), spanattr.KeyDeadLetterReason.String(reason)))
	log.WarnContext(ctx, "delivery dead-lettered", "code", a.Code, "reason", reason, "dead_letter_id", id)
}

// markOutcome records how the attempt was settled on its span (delivered,
// retry, dead, shutdown), with extra attributes.
func markOutcome(span trace.Span, outcome string, attrs ...attribute.KeyValue) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(append(attrs, spanattr.KeyDeliveryOutcome.String(outcome))...)
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
