package eventlog

import (
	"context"
	"fmt"
	"time"
)

// monitorInterval is how often the monitor re-reads a full stream's size.
const monitorInterval = time.Second

// monitor clears the full state once the stream has room again (events expire, or an
// operator raises the limit) and logs changes of readiness.
func (l *Log) monitor(ctx context.Context) {
	t := time.NewTicker(monitorInterval)
	defer t.Stop()
	var last error
	for {
		full := l.checkFull(ctx)
		if ctx.Err() != nil {
			return
		}
		l.fullState.Store(&readyState{err: full})
		switch {
		case full != nil && (last == nil || full.Error() != last.Error()):
			l.logger.Warn("event log not ready", "reason", full)
		case full == nil && last != nil:
			l.logger.Info("event log ready")
		}
		last = full
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkFull tells whether the stream still has no room for the largest event, after
// an append was refused as full. A full stream does not close the log: duplicates
// are still answered and smaller events may still fit.
func (l *Log) checkFull(ctx context.Context) error {
	if !l.full.Load() {
		return nil
	}
	ctx, cancel := l.opContext(ctx)
	defer cancel()
	si, err := l.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("%w: stream info: %w", ErrUnavailable, err)
	}
	if l.cfg.MaxBytes >= 0 && int64(si.State.Bytes)+RequiredPayload(l.cfg.MaxBodyBytes) >= l.cfg.MaxBytes {
		return fmt.Errorf("%w: stream holds %d of %d bytes", ErrFull, si.State.Bytes, l.cfg.MaxBytes)
	}
	l.full.Store(false)
	return nil
}

// Readiness (/readyz) follows the log's ability to take a write.
const (
	// readyFresh: an append answered this recently, with no append failing since,
	// is readiness enough; nothing is probed while traffic flows.
	readyFresh = 2 * time.Second
	// probeInterval: a probe's answer is reused this long, however often Ready is
	// asked.
	probeInterval = time.Second
	// probeTimeout bounds one probe: a stream without a leader may not answer at all.
	probeTimeout = time.Second
)

type probeResult struct {
	at  time.Time
	err error
}

// Ready returns nil when the log takes writes, else an error wrapping ErrUnavailable
// or ErrFull (/readyz): open, connected, not full, and either an append answered
// within readyFresh with none failing since, or the stream's leader answering a
// stream info request (asked at most once per probeInterval). So Ready turns false
// within about readyFresh + probeTimeout of appends stalling (a lost leader, a lost
// only replica) and true again with the first answered append or probe.
func (l *Log) Ready(ctx context.Context) error {
	if l.closed.Load() {
		return fmt.Errorf("%w: log closed", ErrUnavailable)
	}
	if !l.nc.IsConnected() {
		return fmt.Errorf("%w: not connected to nats", ErrUnavailable)
	}
	if err := l.fullState.Load().err; err != nil && l.full.Load() {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ok, failed := l.lastOK.Load(), l.lastFail.Load()
	if ok != 0 && ok >= failed && time.Now().UnixNano()-ok < int64(readyFresh) {
		return nil
	}
	return l.probe(ctx)
}

// probe returns the last probe's answer while it is fresh, else asks the stream's
// leader again; concurrent callers share one request.
func (l *Log) probe(ctx context.Context) error {
	if r := l.probed.Load(); r != nil && time.Since(r.at) < probeInterval {
		return r.err
	}
	l.probeMu.Lock()
	defer l.probeMu.Unlock()
	if r := l.probed.Load(); r != nil && time.Since(r.at) < probeInterval {
		return r.err
	}
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	err := l.probeLeader(pctx)
	if ctx.Err() != nil {
		return ctx.Err() // the caller gave up: says nothing about the log
	}
	l.probed.Store(&probeResult{at: time.Now(), err: err})
	return err
}

// probeLeader asks for the stream's info, which only its leader answers in full: no
// answer, or one naming no leader, means appends cannot be stored now.
func (l *Log) probeLeader(ctx context.Context) error {
	si, err := l.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("%w: stream info: %w", ErrUnavailable, err)
	}
	if si.Cluster != nil && si.Cluster.Leader == "" {
		return fmt.Errorf("%w: stream %s has no leader", ErrUnavailable, l.streamName)
	}
	return nil
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
