package dispatch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// errStopScan ends a scan early without an error.
var errStopScan = errors.New("stop scan")

// scan reads a stream's messages in order with an ephemeral ordered consumer and
// calls fn for each until the messages present at the start are read.
func scan(ctx context.Context, st jetstream.Stream, cfg jetstream.OrderedConsumerConfig, fn func(jetstream.Msg) error) error {
	cfg.InactiveThreshold = 30 * time.Second
	c, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("scan: ordered consumer: %w", err)
	}
	info := c.CachedInfo()
	if info == nil || info.NumPending == 0 {
		return nil
	}
	// Fetch exactly what is pending (at most 500 at a time), so a batch completes
	// as soon as its messages arrive rather than at its expiry.
	pending := info.NumPending
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("scan: %w", err)
		}
		batch, err := c.Fetch(int(min(pending, 500)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return fmt.Errorf("scan: fetch: %w", err)
		}
		n := 0
		last := false
		for msg := range batch.Messages() {
			n++
			if last {
				continue
			}
			md, err := msg.Metadata()
			if err != nil {
				return fmt.Errorf("scan: metadata: %w", err)
			}
			if err := fn(msg); err != nil {
				if errors.Is(err, errStopScan) {
					last = true
					continue
				}
				return err
			}
			pending = md.NumPending
			if pending == 0 {
				last = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("scan: %w", err)
		}
		if last || n == 0 {
			return nil
		}
	}
}
