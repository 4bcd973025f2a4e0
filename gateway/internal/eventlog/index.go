package eventlog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The dedupe index is built from the log itself: a durable consumer of the event
// stream (shared by every gateway on the cluster) writes each event's key into the
// index bucket and acknowledges the event only once that write is acknowledged. A
// crash anywhere leaves the event unacknowledged, so it is indexed again: the index
// never misses an event of the log, and the request path writes no marker.
//
// The index only has to cover events older than the Nats-Msg-Id window, since
// JetStream itself rejects duplicates inside it. The monitor therefore declares the
// log ready while the oldest event not yet indexed is younger than half the window,
// and not ready (Append answers ErrUnavailable) otherwise — after a restart, until
// the indexer has caught up with the log past the window.

type indexWrite struct {
	msg jetstream.Msg
	paf jetstream.PubAckFuture
}

func (l *Log) startIndex() error {
	ctx := l.bg
	pending := make(chan indexWrite, 8192)
	cc, err := l.cons.Consume(func(msg jetstream.Msg) { l.indexOne(ctx, msg, pending) },
		jetstream.PullMaxMessages(1024),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !l.closed.Load() {
				l.logger.Debug("dedupe indexer pull failed", "error", err)
			}
		}))
	if err != nil {
		return fmt.Errorf("start dedupe indexer: %w", err)
	}
	l.consCtx = cc
	l.wg.Add(2)
	go func() {
		defer l.wg.Done()
		l.ackIndexed(ctx, pending)
	}()
	go func() {
		defer l.wg.Done()
		l.monitor(ctx)
	}()
	return nil
}

// indexOne starts the index write of one event; ackIndexed finishes it.
func (l *Log) indexOne(ctx context.Context, msg jetstream.Msg, pending chan<- indexWrite) {
	md, err := msg.Metadata()
	if err != nil {
		l.logger.Warn("dedupe indexer got a message without metadata", "error", err)
		return
	}
	if time.Since(md.Timestamp) > l.cfg.DedupeHorizon {
		_ = msg.Ack() // past the horizon: nothing to remember
		return
	}
	source, id, ok := splitMsgID(msg.Headers().Get(jetstream.MsgIDHeader))
	if !ok || validateSource(source) != nil || validateID(id) != nil {
		l.logger.Warn("event log holds a message without a valid Nats-Msg-Id; not indexed",
			"stream_seq", md.Sequence.Stream, "subject", msg.Subject())
		_ = msg.Ack()
		return
	}
	if err := l.fault(FaultIndexing); err != nil {
		_ = msg.NakWithDelay(time.Second)
		return
	}
	paf, err := l.ijs.PublishMsgAsync(&nats.Msg{
		Subject: l.kvSubject + indexKey(source, id),
		Data:    strconv.AppendUint(nil, md.Sequence.Stream, 10),
	})
	if err != nil {
		l.logger.Warn("dedupe index write failed", "stream_seq", md.Sequence.Stream, "error", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	select {
	case pending <- indexWrite{msg: msg, paf: paf}:
	case <-ctx.Done():
	}
}

// ackIndexed acknowledges each event once its index write is acknowledged, in order.
func (l *Log) ackIndexed(ctx context.Context, pending <-chan indexWrite) {
	for {
		var w indexWrite
		select {
		case <-ctx.Done():
			return
		case w = <-pending:
		}
		select {
		case <-ctx.Done():
			return
		case <-w.paf.Ok():
			if err := l.fault(FaultIndexed); err != nil {
				continue // unacknowledged: redelivered after AckWait and written again
			}
			_ = w.msg.Ack()
		case err := <-w.paf.Err():
			l.logger.Warn("dedupe index write failed", "error", err)
			_ = w.msg.NakWithDelay(time.Second)
		}
	}
}

func (l *Log) monitorInterval() time.Duration {
	return min(max(l.cfg.DedupeWindow/8, 25*time.Millisecond), time.Second)
}

// maxIndexLag is how far the index may trail the log while the log takes writes.
func (l *Log) maxIndexLag() time.Duration { return l.cfg.DedupeWindow / 2 }

func (l *Log) monitor(ctx context.Context) {
	t := time.NewTicker(l.monitorInterval())
	defer t.Stop()
	var last error
	for {
		gate, full := l.check(ctx)
		if ctx.Err() != nil {
			return
		}
		l.state.Store(&readyState{err: gate})
		l.fullState.Store(&readyState{err: full})
		err := errors.Join(gate, full)
		switch {
		case err != nil && (last == nil || err.Error() != last.Error()):
			l.logger.Warn("event log not ready", "reason", err)
		case err == nil && last != nil:
			l.logger.Info("event log ready")
		}
		last = err
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check decides whether Append may run (gate) and whether the stream is full. A full
// stream does not close the gate: duplicates are still answered and smaller events
// may still fit.
func (l *Log) check(ctx context.Context) (gate, full error) {
	if !l.nc.IsConnected() || !l.inc.IsConnected() {
		return fmt.Errorf("%w: not connected to nats", ErrUnavailable), nil
	}
	ctx, cancel := l.opContext(ctx)
	defer cancel()
	info, err := l.cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("%w: dedupe indexer: %w", ErrUnavailable, err), nil
	}
	if info.NumPending > 0 || info.NumAckPending > 0 {
		m, err := l.getMsg(ctx, l.streamName, msgGetRequest{Seq: info.AckFloor.Stream + 1, NextFor: l.SubjectFilter()})
		switch {
		case errors.Is(err, ErrNotFound):
			// The unindexed events expired meanwhile.
		case err != nil:
			return fmt.Errorf("dedupe index lag: %w", err), nil
		default:
			// Measured on the server's clock, so a skewed gateway clock does not matter.
			now := info.TimeStamp
			if now.IsZero() {
				now = time.Now()
			}
			if lag := now.Sub(m.Time); lag > l.maxIndexLag() {
				return fmt.Errorf("%w: dedupe index is %s behind the log (at most %s allowed)",
					ErrUnavailable, lag.Round(time.Millisecond), l.maxIndexLag()), nil
			}
		}
	}
	if l.full.Load() {
		si, err := l.stream.Info(ctx)
		if err != nil {
			return fmt.Errorf("%w: stream info: %w", ErrUnavailable, err), nil
		}
		if l.cfg.MaxBytes >= 0 && int64(si.State.Bytes)+RequiredPayload(l.cfg.MaxBodyBytes) >= l.cfg.MaxBytes {
			return nil, fmt.Errorf("%w: stream holds %d of %d bytes", ErrFull, si.State.Bytes, l.cfg.MaxBytes)
		}
		l.full.Store(false)
	}
	return nil, nil
}

// Ready returns nil when the log takes writes: connected, and the dedupe index close
// enough behind the log; else an error wrapping ErrUnavailable or ErrFull (/readyz).
func (l *Log) Ready(ctx context.Context) error {
	if err := l.state.Load().err; err != nil {
		return err
	}
	if err := l.fullState.Load().err; err != nil && l.full.Load() {
		return err
	}
	if !l.nc.IsConnected() {
		return fmt.Errorf("%w: not connected to nats", ErrUnavailable)
	}
	return ctx.Err()
}

// WaitReady blocks until Ready returns nil or ctx ends.
func (l *Log) WaitReady(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		err := l.Ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for event log: %w (last: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}
