// Package scheduler is hookmesh's own scheduler. It turns the cron schedules of the
// config into events cron.<name> (source "cron") and one-off events created through
// the admin API into events scheduled.<name> (source "scheduled"), appended to the
// event log like any webhook: same dedupe, delivery, retries and tracing.
//
// Any number of gateways may run a scheduler on the same NATS cluster. Their shared
// state lives in the JetStream KV bucket HOOKMESH_SCHEDULES:
//
//	cron.<name>    the last processed tick of a schedule, an in-flight claim, and the
//	               ticks it skipped (JSON, cronState)
//	oneoff.<id>    a one-off event and its state (JSON, oneOffRecord)
//
// Every change is a compare-and-set on the key's revision, so one replica claims a
// tick or a one-off event (with a lease, in case it dies), appends it, and marks it
// done; the others see the claim and leave it alone. The event ids are derived from
// the schedule (cron: "<name>@<scheduled time, RFC 3339 UTC>"; one-off: its UUIDv7),
// so even a replica that takes over an expired claim after the first one appended
// produces a duplicate the log drops.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // time zones work in images without /usr/share/zoneinfo

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	"github.com/hookmesh/hookmesh/gateway/internal/scheduler/cron"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// Names and defaults.
const (
	// BucketName is the KV bucket holding schedule state (prefixed by BucketPrefix).
	BucketName = "HOOKMESH_SCHEDULES"
	// SourceCron is the event source of cron ticks; their type is cron.<name>.
	SourceCron = "cron"
	// SourceScheduled is the event source of one-off events; their type is scheduled.<name>.
	SourceScheduled = "scheduled"
	// SchedulerName goes into ScheduledEvent.scheduler.
	SchedulerName = "hookmesh"

	DefaultTolerance = 6 * time.Hour
	DefaultPoll      = time.Second
	DefaultLease     = 30 * time.Second
	DefaultRetention = 7 * 24 * time.Hour
	DefaultTimeout   = 5 * time.Second
)

// Appender stores an event once per (source, id); (*eventlog.Log) implements it.
// Errors wrap eventlog.ErrUnavailable / ErrFull (try later) or ErrInvalid /
// ErrTooLarge (never).
type Appender interface {
	Append(ctx context.Context, ev *eventv1.Event) (eventlog.AppendResult, error)
}

// Schedule is one cron schedule (config key schedules[]).
type Schedule struct {
	// Name: letters, digits, '_' and '-'; events are cron.<name>.
	Name string
	// Cron is a five-field expression or a shorthand (@daily, …); see package cron.
	Cron string
	// Timezone is an IANA zone name the expression is read in; empty means UTC.
	// Across daylight-saving changes a wall time that does not exist fires when the
	// gap ends and a repeated one fires once, at its first occurrence (cron.Expr.Next).
	Timezone string
	// Payload travels in ScheduledEvent.payload; nil for none.
	Payload *structpb.Value
	// Tolerance is how late a tick may still be emitted after downtime (default 6h);
	// older ticks are skipped and recorded.
	Tolerance time.Duration
}

// TickFunc runs in this process when a tick of its schedule comes due; see
// Config.OnTick.
type TickFunc func(ctx context.Context, scheduled time.Time)

// Config configures a Scheduler.
type Config struct {
	// Log takes the events (required).
	Log Appender
	// JS holds the state bucket (required); the event log's JetStream().
	JS jetstream.JetStream
	// Schedules are the cron schedules; may be empty (one-off events only).
	Schedules []Schedule
	// OnTick runs a function in every replica when a tick of the named schedule has
	// been emitted (by any replica) and is within its tolerance: at most once per
	// tick and process, one call at a time per schedule, never for skipped ticks,
	// and after a restart once for the newest emitted tick if it is still within the
	// tolerance. The gateway wires "health-check" to its dispatcher's health checks,
	// whose results are per process. ctx ends when Run stops.
	OnTick map[string]TickFunc
	// Clock is the time source (default SystemClock).
	Clock Clock
	// TracerProvider traces ticks (default: no tracing).
	TracerProvider trace.TracerProvider
	// Logger (default: discard).
	Logger *slog.Logger
	// Registerer takes the metrics (default: none registered).
	Registerer prometheus.Registerer
	// Poll is the longest the scheduler sleeps between passes (default 1s): it bounds
	// how long a wall-clock jump or a missed KV update can delay work.
	Poll time.Duration
	// Lease is how long a claim on a tick or one-off event holds before another
	// replica may take it over (default 30s).
	Lease time.Duration
	// Retention is how long fired, cancelled and skipped one-off events stay listed
	// (default 7 days).
	Retention time.Duration
	// Timeout bounds each KV request and append (default 5s).
	Timeout time.Duration
	// BucketPrefix is prepended to the bucket name (tests; use the log's StreamPrefix).
	BucketPrefix string
	// Replicas of the state bucket (default 1; use the log's replica count).
	Replicas int
}

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	prefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]{0,32}$`)
)

func (c *Config) setDefaults() {
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.TracerProvider == nil {
		c.TracerProvider = noop.NewTracerProvider()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Poll == 0 {
		c.Poll = DefaultPoll
	}
	if c.Lease == 0 {
		c.Lease = DefaultLease
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.Log == nil:
		return errors.New("scheduler: Log is required")
	case c.JS == nil:
		return errors.New("scheduler: JS is required")
	case c.Poll < 0 || c.Lease < 0 || c.Retention < 0 || c.Timeout < 0:
		return errors.New("scheduler: Poll, Lease, Retention and Timeout must not be negative")
	case c.Replicas != 1 && c.Replicas != 3 && c.Replicas != 5:
		return fmt.Errorf("scheduler: replicas must be 1, 3 or 5, got %d", c.Replicas)
	case !prefixRE.MatchString(c.BucketPrefix):
		return errors.New("scheduler: bucket prefix may hold up to 32 letters, digits, '_' and '-'")
	}
	seen := map[string]bool{}
	for i, s := range c.Schedules {
		if !nameRE.MatchString(s.Name) {
			return fmt.Errorf("scheduler: schedule %d: name %q must be 1-64 letters, digits, '_' or '-'", i, s.Name)
		}
		if seen[s.Name] {
			return fmt.Errorf("scheduler: schedule %q appears twice", s.Name)
		}
		seen[s.Name] = true
		if _, err := cron.Parse(s.Cron); err != nil {
			return fmt.Errorf("scheduler: schedule %q: %w", s.Name, err)
		}
		if _, err := time.LoadLocation(s.Timezone); err != nil {
			return fmt.Errorf("scheduler: schedule %q: unknown time zone %q", s.Name, s.Timezone)
		}
		if s.Tolerance < 0 {
			return fmt.Errorf("scheduler: schedule %q: tolerance must not be negative", s.Name)
		}
		if s.Payload != nil {
			b, err := protojson.Marshal(s.Payload)
			if err != nil {
				return fmt.Errorf("scheduler: schedule %q: payload is not valid JSON: %w", s.Name, err)
			}
			if len(b) > MaxPayloadBytes {
				return fmt.Errorf("scheduler: schedule %q: payload is %d bytes as JSON, more than %d", s.Name, len(b), MaxPayloadBytes)
			}
		}
	}
	for name, fn := range c.OnTick {
		if !seen[name] {
			return fmt.Errorf("scheduler: OnTick names schedule %q, which is not configured", name)
		}
		if fn == nil {
			return fmt.Errorf("scheduler: OnTick[%q] is nil", name)
		}
	}
	return nil
}

// Scheduler emits cron ticks and one-off events. Its admin methods (Create…, List…,
// DeleteScheduledEvent, Schedules) work whether or not Run is running.
type Scheduler struct {
	cfg       Config
	id        string // this process's claims carry it
	kv        jetstream.KeyValue
	schedules []*schedule
	byName    map[string]*schedule
	tracer    trace.Tracer
	m         *metrics
	kick      chan struct{}
	running   atomic.Bool

	// Owned by the Run goroutine.
	entries   map[string]*entry
	lastSweep time.Time

	passDone atomic.Int64 // Clock reading (unix ns) at the start of the last pass that left nothing due
	hooks    sync.WaitGroup
}

type schedule struct {
	Schedule
	expr     *cron.Expr
	loc      *time.Location
	key      string
	hook     TickFunc
	hookDone time.Time // Run goroutine only
	hookBusy atomic.Bool
}

// New validates cfg, creates or updates the state bucket and registers the metrics.
func New(ctx context.Context, cfg Config) (*Scheduler, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("scheduler: instance id: %w", err)
	}
	s := &Scheduler{
		cfg:     cfg,
		id:      id.String(),
		byName:  map[string]*schedule{},
		tracer:  cfg.TracerProvider.Tracer("github.com/hookmesh/hookmesh/gateway/internal/scheduler"),
		kick:    make(chan struct{}, 1),
		entries: map[string]*entry{},
	}
	for _, sc := range cfg.Schedules {
		expr, _ := cron.Parse(sc.Cron)           // checked by Validate
		loc, _ := time.LoadLocation(sc.Timezone) // checked by Validate; "" is UTC
		if sc.Tolerance == 0 {
			sc.Tolerance = DefaultTolerance
		}
		s2 := &schedule{Schedule: sc, expr: expr, loc: loc, key: cronKey(sc.Name), hook: cfg.OnTick[sc.Name]}
		s.schedules = append(s.schedules, s2)
		s.byName[sc.Name] = s2
	}
	if s.m, err = newMetrics(cfg.Registerer, cfg.Schedules); err != nil {
		return nil, err
	}
	bctx, cancel := context.WithTimeout(ctx, max(cfg.Timeout, 10*time.Second))
	defer cancel()
	s.kv, err = cfg.JS.CreateOrUpdateKeyValue(bctx, jetstream.KeyValueConfig{
		Bucket:      cfg.BucketPrefix + BucketName,
		Description: "hookmesh scheduler: last processed cron ticks, skipped ticks and one-off scheduled events",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("scheduler: state bucket: %w", err)
	}
	return s, nil
}

// poke wakes Run for a pass (a one-off event was created or cancelled here).
func (s *Scheduler) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run emits due ticks and one-off events until ctx ends, then waits for running
// OnTick functions and returns nil. An item being claimed and appended when ctx ends
// is finished first (bounded by Timeout per step), so no claim is left behind.
// Failures (log or KV unavailable) are logged, counted in
// hookmesh_scheduler_errors_total and retried every Poll; Run returns an error only
// when it is already running.
func (s *Scheduler) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("scheduler: Run is already running")
	}
	defer s.running.Store(false)
	defer s.hooks.Wait()

	w, err := s.watch(ctx)
	for err != nil {
		// The bucket was reachable in New; keep trying rather than take the gateway down.
		s.m.errors.WithLabelValues("watch").Inc()
		s.cfg.Logger.WarnContext(ctx, "scheduler: cannot load the state bucket; retrying", "error", err)
		t := s.cfg.Clock.Timer(s.cfg.Clock.Now().Add(s.cfg.Poll))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
		w, err = s.watch(ctx)
	}
	defer func() { stopWatch(w) }()
	s.cfg.Logger.InfoContext(ctx, "scheduler running", "schedules", len(s.schedules), "instance", s.id)

	for {
		wake := s.pass(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var updates <-chan jetstream.KeyValueEntry
		if w != nil {
			updates = w.Updates()
		}
		at := s.cfg.Clock.Now().Add(s.cfg.Poll)
		if wake.Before(at) {
			at = wake
		}
		t := s.cfg.Clock.Timer(at)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		case <-s.kick:
			t.Stop()
		case e, ok := <-updates:
			t.Stop()
			if !ok {
				// The watcher ended (connection trouble); start another at the next pass.
				s.cfg.Logger.WarnContext(ctx, "scheduler: state watcher closed; restarting it")
				w = nil
				break
			}
			s.apply(e)
			s.drain(w)
		}
		if w == nil && ctx.Err() == nil {
			if w, err = s.watch(ctx); err != nil {
				s.cfg.Logger.WarnContext(ctx, "scheduler: cannot watch the state bucket", "error", err)
				s.m.errors.WithLabelValues("watch").Inc()
				w = nil
			}
		}
	}
}

// pass does everything due now and returns when the next thing comes due.
func (s *Scheduler) pass(ctx context.Context) time.Time {
	now := s.cfg.Clock.Now()
	wake := now.Add(s.cfg.Poll)
	for _, sc := range s.schedules {
		if ctx.Err() != nil {
			return now
		}
		w, err := s.cronRound(ctx, sc)
		if err != nil {
			s.m.errors.WithLabelValues("cron").Inc()
			s.cfg.Logger.WarnContext(ctx, "scheduler: schedule not processed; retrying", "schedule", sc.Name, "error", err)
			w = s.cfg.Clock.Now().Add(s.cfg.Poll)
		}
		wake = earlier(wake, w)
		s.maybeHook(ctx, sc)
	}
	if ctx.Err() != nil {
		return now
	}
	wake = earlier(wake, s.oneOffRound(ctx))
	s.sweep(ctx, now)
	if wake.After(now) {
		s.passDone.Store(now.UnixNano()) // nothing left to do at once
	}
	return wake
}

// step bounds one KV request or append; it outlives ctx so that a claim taken just
// before shutdown is still completed.
func (s *Scheduler) step(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout)
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
