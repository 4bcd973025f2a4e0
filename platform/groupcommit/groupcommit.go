// Package groupcommit is a group committer: concurrent callers each submit one item and
// wait; one writer goroutine applies the waiting items together in one transaction
// and answers each caller with its own result only after that transaction committed.
//
// The next batch starts as soon as the previous commit finishes (everything that
// arrived meanwhile goes in at once) or, while the writer is idle, when MaxBatch
// items are waiting or FlushInterval has passed since the first one — never on a
// timer alone, and no caller hears "done" before its item is durable.
package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ErrClosed is returned by Submit after Close began.
var ErrClosed = errors.New("group committer closed")

// Applier writes a batch.
type Applier[T any] interface {
	// Apply writes items in one transaction and commits it. It returns one result
	// per item, in order (nil: applied; an error: that item alone was rolled back,
	// e.g. to a savepoint), or a non-nil err when the transaction as a whole
	// failed and nothing of the batch was committed.
	Apply(ctx context.Context, items []T) (results []error, err error)
}

// Config configures a Committer.
type Config struct {
	// MaxBatch is the most items in one transaction. Default 256.
	MaxBatch int
	// FlushInterval is how long an idle writer waits for a batch to fill after its
	// first item arrives. 0 commits at once. Default 0.
	FlushInterval time.Duration
	// CommitTimeout bounds one Apply call. Default 30s.
	CommitTimeout time.Duration
	// Tracer records one span per batch, linked to the callers' spans. Optional.
	Tracer trace.Tracer
	// Logger reports failed batches. Default slog.Default().
	Logger *slog.Logger
	// Observe, when set, is told the size, duration and outcome of every batch
	// (metrics). It runs on the writer goroutine and must be quick.
	Observe func(size int, elapsed time.Duration, err error)
}

func (c *Config) setDefaults() {
	if c.MaxBatch == 0 {
		c.MaxBatch = 256
	}
	if c.CommitTimeout == 0 {
		c.CommitTimeout = 30 * time.Second
	}
	if c.Tracer == nil {
		c.Tracer = noop.NewTracerProvider().Tracer("")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.MaxBatch < 1:
		return fmt.Errorf("groupcommit: MaxBatch %d must be at least 1", c.MaxBatch)
	case c.FlushInterval < 0:
		return fmt.Errorf("groupcommit: FlushInterval %s must not be negative", c.FlushInterval)
	case c.CommitTimeout <= 0:
		return fmt.Errorf("groupcommit: CommitTimeout %s must be positive", c.CommitTimeout)
	}
	return nil
}

type request[T any] struct {
	ctx    context.Context
	item   T
	result chan error // buffered: the writer never blocks on a caller that left
}

// Committer groups concurrent submissions into transactions.
type Committer[T any] struct {
	cfg     Config
	applier Applier[T]
	queue   chan *request[T]
	closing chan struct{}
	done    chan struct{}

	mu     sync.RWMutex // held shared while sending to queue; Close takes it exclusively
	closed bool
	once   sync.Once

	lingering atomic.Bool // an idle writer is waiting for its batch to fill (observed by tests)
}

// New starts a Committer writing through applier.
func New[T any](cfg Config, applier Applier[T]) (*Committer[T], error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if applier == nil {
		return nil, errors.New("groupcommit: applier is required")
	}
	c := &Committer[T]{
		cfg:     cfg,
		applier: applier,
		queue:   make(chan *request[T], cfg.MaxBatch),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	go c.run()
	return c, nil
}

// Submit queues item and waits until its batch committed. It returns the item's own
// result, the batch's error, ErrClosed, or ctx's error when ctx ended first (the item
// is then either dropped before its batch started or committed anyway).
func (c *Committer[T]) Submit(ctx context.Context, item T) error {
	r := &request[T]{ctx: ctx, item: item, result: make(chan error, 1)}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return ErrClosed
	}
	select {
	case c.queue <- r:
		c.mu.RUnlock()
	case <-ctx.Done():
		c.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-r.result:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops taking items, commits everything already submitted and waits for the
// writer to finish (or for ctx to end).
func (c *Committer[T]) Close(ctx context.Context) error {
	c.once.Do(func() {
		c.mu.Lock() // waits for senders in flight; the writer keeps draining meanwhile
		c.closed = true
		c.mu.Unlock()
		close(c.closing)
	})
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("groupcommit: close: %w", ctx.Err())
	}
}

func (c *Committer[T]) run() {
	defer close(c.done)
	committed := false // a batch just finished: what waits now arrived during its commit
	for {
		var (
			first *request[T]
			idle  = true
		)
		select {
		case first = <-c.queue:
			idle = !committed
		default:
			select {
			case first = <-c.queue:
				idle = true
			case <-c.closing:
				c.drain()
				return
			}
		}
		c.commit(c.collect(first, idle))
		committed = true
	}
}

// collect gathers what is waiting behind first, up to MaxBatch; an idle writer also
// waits up to FlushInterval for the batch to fill.
func (c *Committer[T]) collect(first *request[T], idle bool) []*request[T] {
	batch := append(make([]*request[T], 0, c.cfg.MaxBatch), first)
waiting:
	for len(batch) < c.cfg.MaxBatch {
		select {
		case r := <-c.queue:
			batch = append(batch, r)
		default:
			break waiting
		}
	}
	if !idle || c.cfg.FlushInterval <= 0 || len(batch) >= c.cfg.MaxBatch {
		return batch
	}
	timer := time.NewTimer(c.cfg.FlushInterval)
	defer timer.Stop()
	c.lingering.Store(true)
	defer c.lingering.Store(false)
	for len(batch) < c.cfg.MaxBatch {
		select {
		case r := <-c.queue:
			batch = append(batch, r)
		case <-timer.C:
			return batch
		case <-c.closing:
			return batch
		}
	}
	return batch
}

// drain commits everything left in the queue; no sender remains once closing is closed.
func (c *Committer[T]) drain() {
	for {
		var batch []*request[T]
	fill:
		for len(batch) < c.cfg.MaxBatch {
			select {
			case r := <-c.queue:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		if len(batch) == 0 {
			return
		}
		c.commit(batch)
	}
}

func (c *Committer[T]) commit(batch []*request[T]) {
	live := batch[:0]
	for _, r := range batch {
		// A caller that gave up before its batch started is not written: it was told
		// its ctx error, and the sender retries.
		if err := r.ctx.Err(); err != nil {
			r.result <- err
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	links := make([]trace.Link, 0, len(live))
	items := make([]T, len(live))
	for i, r := range live {
		items[i] = r.item
		if sc := trace.SpanContextFromContext(r.ctx); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.CommitTimeout)
	defer cancel()
	ctx, span := c.cfg.Tracer.Start(ctx, "batch commit", trace.WithLinks(links...),
		trace.WithAttributes(attribute.Int("batch.size", len(live))))
	defer span.End()

	began := time.Now()
	results, err := c.apply(ctx, items)
	if err == nil && len(results) != len(items) {
		err = fmt.Errorf("groupcommit: applier returned %d results for %d items", len(results), len(items))
	}
	if c.cfg.Observe != nil {
		c.cfg.Observe(len(items), time.Since(began), err)
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "batch failed")
		c.cfg.Logger.ErrorContext(ctx, "batch commit failed", "size", len(live), "error", err)
		for _, r := range live {
			r.result <- err
		}
		return
	}
	for i, r := range live {
		r.result <- results[i]
	}
}

// apply calls the applier, turning a panic into a batch error so the writer survives.
func (c *Committer[T]) apply(ctx context.Context, items []T) (results []error, err error) {
	defer func() {
		if p := recover(); p != nil {
			results, err = nil, fmt.Errorf("groupcommit: applier panicked: %v", p)
		}
	}()
	return c.applier.Apply(ctx, items)
}
