package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	"github.com/hookmesh/hookmesh/gateway/internal/jstest"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// fakeClock is a Clock that moves only when the test says so.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c    *fakeClock
	at   time.Time
	ch   chan time.Time
	done bool
}

func newFakeClock(start time.Time) *fakeClock { return &fakeClock{now: start} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Timer(at time.Time) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: at, ch: make(chan time.Time, 1)}
	if !at.After(c.now) {
		t.done = true
		t.ch <- c.now
		return t
	}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.done {
		return false
	}
	t.done = true
	t.c.timers = slices.DeleteFunc(t.c.timers, func(o *fakeTimer) bool { return o == t })
	return true
}

// Set moves the clock to at (never backwards) and fires the timers due by then.
func (c *fakeClock) Set(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if at.Before(c.now) {
		panic("fake clock moved backwards")
	}
	c.now = at
	c.timers = slices.DeleteFunc(c.timers, func(t *fakeTimer) bool {
		if t.at.After(at) {
			return false
		}
		t.done = true
		t.ch <- at
		return true
	})
}

func (c *fakeClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func testLogger() *slog.Logger {
	if os.Getenv("HOOKMESH_TEST_LOG") != "" {
		return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// openLog opens the embedded event log on dir (a t.TempDir(), reused to restart).
func openLog(t testing.TB, dir string) *eventlog.Log {
	t.Helper()
	return jstest.OpenLog(t, eventlog.Config{DataDir: dir})
}

// countingLog wraps the real log, counting appends and optionally failing or
// blocking them.
type countingLog struct {
	log        Appender
	calls      atomic.Int64
	duplicates atomic.Int64
	failNext   atomic.Int64                  // that many appends fail with ErrUnavailable first
	block      atomic.Pointer[chan struct{}] // appends wait for it to close
}

func (c *countingLog) Append(ctx context.Context, ev *eventv1.Event) (eventlog.AppendResult, error) {
	c.calls.Add(1)
	if ch := c.block.Load(); ch != nil {
		select {
		case <-*ch:
		case <-ctx.Done():
			return eventlog.AppendResult{}, ctx.Err()
		}
	}
	if c.failNext.Add(-1) >= 0 {
		return eventlog.AppendResult{}, errors.Join(eventlog.ErrUnavailable, errors.New("test: log down"))
	}
	c.failNext.Store(0)
	res, err := c.log.Append(ctx, ev)
	if res.Duplicate {
		c.duplicates.Add(1)
	}
	return res, err
}

// running is a Scheduler whose Run goroutine the test can stop.
type running struct {
	*Scheduler
	reg  *prometheus.Registry
	stop func()
}

// start builds a scheduler on log (with a counting wrapper unless cfg.Log is set)
// and runs it until stop or the end of the test.
func start(t *testing.T, log *eventlog.Log, cfg Config) *running {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = &countingLog{log: log}
	}
	cfg.JS = log.JetStream()
	reg := prometheus.NewRegistry()
	if cfg.Registerer == nil {
		cfg.Registerer = reg
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	s, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return &running{Scheduler: s, reg: reg, stop: stop}
}

// settle moves the clock to at and waits until every scheduler has finished a pass
// that started at or after it with nothing left to do at once.
func settle(t *testing.T, clk *fakeClock, at time.Time, scheds ...*running) {
	t.Helper()
	clk.Set(at)
	waitIdle(t, at, scheds...)
}

func waitIdle(t *testing.T, at time.Time, scheds ...*running) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range scheds {
		for s.passDone.Load() < at.UnixNano() {
			if time.Now().After(deadline) {
				t.Fatalf("scheduler did not finish a pass at %v (last %v)", at, time.Unix(0, s.passDone.Load()).UTC())
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// eventsOf lists every event of source in the log, oldest first.
func eventsOf(t *testing.T, log *eventlog.Log, source string) []*eventv1.Event {
	t.Helper()
	var out []*eventv1.Event
	cursor := ""
	for {
		page, next, err := log.List(t.Context(), eventlog.Filter{Source: source, Limit: eventlog.MaxListLimit, Cursor: cursor})
		if err != nil {
			t.Fatalf("list events: %v", err)
		}
		out = append(out, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	slices.Reverse(out)
	return out
}

// waitEvents polls until source has n events and returns them.
func waitEvents(t *testing.T, log *eventlog.Log, source string, n int) []*eventv1.Event {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		evs := eventsOf(t, log, source)
		if len(evs) >= n || time.Now().After(deadline) {
			if len(evs) != n {
				t.Fatalf("%d %s events, want %d: %v", len(evs), source, n, ids(evs))
			}
			return evs
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ids(evs []*eventv1.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.GetId())
	}
	return out
}

func tsOf(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// recvTime waits for a value on ch.
func recvTime(t *testing.T, ch <-chan time.Time) time.Time {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatal("timed out waiting for a hook call")
		return time.Time{}
	}
}

func nan() float64 { return math.NaN() }

func sortStrings(s []string) { slices.Sort(s) }
