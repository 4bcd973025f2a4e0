package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// Clock is the dispatcher's source of time for recorded timestamps and due times.
type Clock interface{ Now() time.Time }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// EventGetter reads one stored event and its sequence; (*eventlog.Log).Get fits.
// ReplayEvent uses it for events that have no delivery state yet; an unknown
// event is an error wrapping eventlog.ErrNotFound.
type EventGetter interface {
	Get(ctx context.Context, source, id string) (*eventv1.Event, uint64, error)
}

// Config configures a Dispatcher.
type Config struct {
	// JS is the JetStream context of the event log's connection (required).
	JS jetstream.JetStream
	// Subscriptions in config order (names unique).
	Subscriptions []Subscription
	// Conns resolves builtin:<name> targets to in-process connections. They must
	// carry an otelgrpc client stats handler: it is what puts the trace context
	// into the call's metadata (connections the dispatcher dials carry one).
	Conns map[string]*grpc.ClientConn
	// Addrs resolves builtin:<name> targets to addresses the dispatcher dials.
	Addrs map[string]string
	// Events, optional, finds events that have no delivery state for ReplayEvent.
	Events EventGetter
	// TracerProvider for delivery spans (default: no-op).
	TracerProvider trace.TracerProvider
	// Propagator reads the event's stored trace context and writes the call's
	// (default: W3C trace context + baggage).
	Propagator propagation.TextMapPropagator
	// Logger (default: discard).
	Logger *slog.Logger
	// Registerer receives the dispatch metrics; nil registers none.
	Registerer prometheus.Registerer
	// Clock (default: wall clock).
	Clock Clock
	// Rand returns uniform values in [0,1) for backoff jitter (default math/rand/v2).
	Rand func() float64
	// StreamPrefix is prepended to every stream, bucket and subject name, the
	// event log's included: set it to the event log's StreamPrefix (tests).
	StreamPrefix string
	// Replicas of the dispatcher's streams and buckets (default 1; 3 in a cluster).
	Replicas int
	// AckMargin is added to a subscription's timeout to form its consumers' AckWait
	// (default 5s). Slow attempts also send in-progress acks every AckWait/3.
	AckMargin time.Duration
	// StateTTL bounds how long delivery states and parked retries are kept (default 7 days).
	StateTTL time.Duration
	// DeadLetterTTL bounds how long dead letters are kept (default 0: until purged).
	DeadLetterTTL time.Duration
	// PruneRemoved deletes, at New, the consumers and parked retries of
	// subscriptions that are no longer configured (see Subscription).
	PruneRemoved bool
	// StatsInterval is how often backlog metrics are refreshed (default 5s).
	StatsInterval time.Duration
	// HealthInterval is how often targets' grpc.health.v1 is checked (default 30s).
	HealthInterval time.Duration
	// JobLease is how long a replay job may go without progress before another
	// gateway takes it over (default 30s).
	JobLease time.Duration
}

func (c *Config) setDefaults() {
	if c.TracerProvider == nil {
		c.TracerProvider = noop.NewTracerProvider()
	}
	if c.Propagator == nil {
		c.Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.AckMargin == 0 {
		c.AckMargin = 5 * time.Second
	}
	if c.StateTTL == 0 {
		c.StateTTL = 7 * 24 * time.Hour
	}
	if c.StatsInterval == 0 {
		c.StatsInterval = 5 * time.Second
	}
	if c.HealthInterval == 0 {
		c.HealthInterval = 30 * time.Second
	}
	if c.JobLease == 0 {
		c.JobLease = 30 * time.Second
	}
	for i := range c.Subscriptions {
		c.Subscriptions[i].setDefaults()
	}
}

// Validate reports every configuration error.
func (c *Config) Validate() error {
	var errs []error
	if c.JS == nil {
		errs = append(errs, errors.New("dispatch: JS is required"))
	}
	if !prefixRE.MatchString(c.StreamPrefix) {
		errs = append(errs, errors.New("dispatch: stream prefix must be letters, digits, '_' or '-'"))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, errors.New("dispatch: replicas must be 1..5"))
	}
	if c.AckMargin < 0 || c.StateTTL < 0 || c.DeadLetterTTL < 0 || c.StatsInterval < 0 || c.HealthInterval < 0 || c.JobLease < 0 {
		errs = append(errs, errors.New("dispatch: durations must not be negative"))
	}
	seen := map[string]bool{}
	for i := range c.Subscriptions {
		s := &c.Subscriptions[i]
		if err := s.Validate(); err != nil {
			errs = append(errs, err)
		}
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("subscription %q: duplicate name", s.Name))
		}
		seen[s.Name] = true
	}
	return errors.Join(errs...)
}

// Dispatcher delivers events to subscriptions. Its operations for the admin API
// (dead letters, replays, subscriptions, deliveries) return the adminv1 records
// it stores and errors of the kinds in errors.go; gateway/internal/admin turns
// them into RPCs.
type Dispatcher struct {
	cfg     Config
	log     *slog.Logger
	js      jetstream.JetStream
	l       *layout
	st      states
	m       *metrics
	tracer  trace.Tracer
	workers []*worker
	byName  map[string]*worker
	orphans []string
	own     []*grpc.ClientConn
	hb      *heartbeats
	rndMu   sync.Mutex
	owner   string   // names this dispatcher in replay job leases
	jobs    sync.Map // ids of the replay jobs this dispatcher runs
	unimpl  unimplemented

	// runCtx carries attempts; cancelled when Stop's grace period ends.
	runCtx    context.Context
	cancelRun context.CancelFunc
	// bgCtx carries background loops (pause watch, stats, health, jobs).
	bgCtx    context.Context
	cancelBg context.CancelFunc
	bg       sync.WaitGroup
	started  atomic.Bool
	stopping atomic.Bool
	stopOnce sync.Once
}

// New validates cfg, resolves targets, compiles filters, and creates the
// dispatcher's streams, buckets and durable consumers. It does not deliver yet.
func New(ctx context.Context, cfg Config) (*Dispatcher, error) {
	subs := make([]Subscription, len(cfg.Subscriptions))
	copy(subs, cfg.Subscriptions)
	cfg.Subscriptions = subs
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	d := &Dispatcher{
		cfg:    cfg,
		log:    cfg.Logger,
		js:     cfg.JS,
		m:      m,
		tracer: cfg.TracerProvider.Tracer("github.com/hookmesh/hookmesh/gateway/internal/dispatch"),
		byName: map[string]*worker{},
		owner:  uuid.NewString(),
	}
	d.runCtx, d.cancelRun = context.WithCancel(context.Background())
	d.bgCtx, d.cancelBg = context.WithCancel(context.Background())
	ok := false
	defer func() {
		if !ok {
			d.closeConns()
		}
	}()
	// Compile and resolve everything before touching the server.
	for i := range cfg.Subscriptions {
		w, err := d.newWorker(&cfg.Subscriptions[i])
		if err != nil {
			return nil, err
		}
		d.workers = append(d.workers, w)
		d.byName[w.sub.Name] = w
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(healthCollector{workers: d.workers}); err != nil {
			return nil, fmt.Errorf("register subscription health metric: %w", err)
		}
	}
	if d.l, err = ensureLayout(ctx, cfg.JS, &cfg); err != nil {
		return nil, err
	}
	d.st = states{kv: d.l.states}
	minWait := time.Duration(0)
	for _, w := range d.workers {
		ackWait := w.sub.Timeout + cfg.AckMargin
		if minWait == 0 || ackWait < minWait {
			minWait = ackWait
		}
		if w.events, w.retry, err = d.l.ensureConsumers(ctx, &w.sub, ackWait, d.log); err != nil {
			return nil, err
		}
	}
	d.hb = newHeartbeats(minWait / 3)
	if err := d.handleOrphans(ctx); err != nil {
		return nil, err
	}
	ok = true
	return d, nil
}

func (d *Dispatcher) handleOrphans(ctx context.Context) error {
	orphans, err := d.l.orphans(ctx, d.configured())
	if err != nil {
		return err
	}
	for _, name := range orphans {
		if d.cfg.PruneRemoved {
			if err := d.l.prune(ctx, name); err != nil {
				return fmt.Errorf("prune removed subscription %q: %w", name, err)
			}
			d.log.InfoContext(ctx, "removed subscription pruned", "subscription", name)
			continue
		}
		d.orphans = append(d.orphans, name)
		d.log.WarnContext(ctx, "removed subscription still has consumers; kept (set prune to delete)", "subscription", name)
	}
	return nil
}

func (d *Dispatcher) configured() map[string]bool {
	m := map[string]bool{}
	for _, w := range d.workers {
		m[w.sub.Name] = true
	}
	return m
}

// Orphans lists subscriptions no longer configured whose consumers were kept.
func (d *Dispatcher) Orphans() []string { return append([]string(nil), d.orphans...) }

// Start begins delivering: it loads the cluster-wide pause flags, then starts
// every subscription that is not paused. It returns once consuming has begun.
func (d *Dispatcher) Start(ctx context.Context) error {
	if !d.started.CompareAndSwap(false, true) {
		return errors.New("dispatch: already started")
	}
	if err := d.watchPauses(ctx); err != nil {
		return err
	}
	for _, w := range d.workers {
		if err := w.start(); err != nil {
			return err
		}
	}
	d.goBackground(func(ctx context.Context) { d.hb.run(ctx) })
	d.goBackground(d.statsLoop)
	d.goBackground(d.healthLoop)
	d.goBackground(d.jobLoop)
	return nil
}

// Run is Start, then Stop when ctx ends (with stopGrace for in-flight attempts).
func (d *Dispatcher) Run(ctx context.Context, stopGrace time.Duration) error {
	if err := d.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopGrace)
	defer cancel()
	return d.Stop(sctx)
}

func (d *Dispatcher) goBackground(fn func(context.Context)) {
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		fn(d.bgCtx)
	}()
}

// Stop stops pulling messages, lets in-flight attempts finish until ctx ends, then
// cancels the rest (their messages go back to the log for immediate redelivery),
// and stops background work. Attempts still waiting for an unconnected target are
// cancelled at once. Call it before closing the event log.
func (d *Dispatcher) Stop(ctx context.Context) error {
	var err error
	d.stopOnce.Do(func() {
		d.stopping.Store(true)
		for _, w := range d.workers {
			w.stopConsuming()
			w.cancelIfUnconnected()
		}
		done := make(chan struct{})
		go func() {
			for _, w := range d.workers {
				w.inflight.Wait()
			}
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			d.log.WarnContext(ctx, "stop grace over; cancelling in-flight attempts")
			d.cancelRun()
			<-done
			err = fmt.Errorf("dispatch stop: %w", ctx.Err())
		}
		d.cancelRun()
		d.cancelBg()
		d.bg.Wait()
		d.closeConns()
	})
	return err
}

func (d *Dispatcher) closeConns() {
	for _, c := range d.own {
		if err := c.Close(); err != nil {
			d.log.Warn("close target connection", "error", err)
		}
	}
	d.own = nil
}

func (d *Dispatcher) now() time.Time { return d.cfg.Clock.Now() }

func (d *Dispatcher) rand() float64 {
	d.rndMu.Lock()
	defer d.rndMu.Unlock()
	return d.cfg.Rand()
}

// watchPauses applies paused.<name> keys now and whenever any gateway changes them.
func (d *Dispatcher) watchPauses(ctx context.Context) error {
	// The watcher lives as long as the dispatcher, not as Start's ctx.
	w, err := d.l.control.Watch(d.bgCtx, pausePrefix+"*")
	if err != nil {
		return fmt.Errorf("watch pause flags: %w", err)
	}
	initial := make(chan struct{})
	d.goBackground(func(ctx context.Context) {
		defer func() { _ = w.Stop() }()
		once := sync.Once{}
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					once.Do(func() { close(initial) })
					continue
				}
				name := strings.TrimPrefix(e.Key(), pausePrefix)
				if wk := d.byName[name]; wk != nil {
					wk.setPaused(e.Operation() == jetstream.KeyValuePut)
				}
			}
		}
	})
	select {
	case <-initial:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("load pause flags: %w", ctx.Err())
	}
}

const pausePrefix = "paused."

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]*$`)
