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

// Ready returns nil when the log takes writes: open and connected; else an error
// wrapping ErrUnavailable or ErrFull (/readyz).
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
