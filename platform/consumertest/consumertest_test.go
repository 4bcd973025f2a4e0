package consumertest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hookmesh/hookmesh/platform/consumerbatch"
	"github.com/hookmesh/hookmesh/platform/grpcserver"
	"github.com/hookmesh/hookmesh/platform/sqlstore"
	"github.com/hookmesh/hookmesh/platform/sqlstore/sqlstoretest"
)

const (
	validType   = "test.thing.created"
	invalidType = "test.thing.unsupported"
)

var quiet = slog.New(slog.NewJSONHandler(io.Discard, nil))

func newTestEvent(id string) *eventv1.Event {
	return &eventv1.Event{Id: id, Source: "test", Type: validType}
}

var invalidEvent = &eventv1.Event{Id: "invalid-1", Source: "test", Type: invalidType}

// consumerFunc serves Deliver with a function.
type consumerFunc func(ctx context.Context, req *consumerv1.DeliverRequest) error

type server struct {
	consumerv1.UnimplementedEventConsumerServiceServer
	fn consumerFunc
}

func (s server) Deliver(ctx context.Context, req *consumerv1.DeliverRequest) (*consumerv1.DeliverResponse, error) {
	if err := s.fn(ctx, req); err != nil {
		return nil, err
	}
	return &consumerv1.DeliverResponse{}, nil
}

// DeliverBatch runs each event through Deliver (platform/consumerbatch).
func (s server) DeliverBatch(ctx context.Context, req *consumerv1.DeliverBatchRequest) (*consumerv1.DeliverBatchResponse, error) {
	return consumerbatch.Deliver(ctx, req, s.Deliver)
}

// allOrNothing fails a whole batch with the first event's failure, as one
// transaction without savepoints would (the fault the batch checks look for).
type allOrNothing struct{ server }

func (s allOrNothing) DeliverBatch(ctx context.Context, req *consumerv1.DeliverBatchRequest) (*consumerv1.DeliverBatchResponse, error) {
	for _, d := range req.GetDeliveries() {
		if err := validate(d.GetEvent()); err != nil {
			st := consumerbatch.ToStatus(err)
			out := make([]*consumerv1.DeliveryStatus, len(req.GetDeliveries()))
			for i := range out {
				out[i] = st
			}
			return &consumerv1.DeliverBatchResponse{Statuses: out}, nil
		}
	}
	return s.server.DeliverBatch(ctx, req)
}

func startConsumer(t *testing.T, fn consumerFunc) consumerv1.EventConsumerServiceClient {
	return startServer(t, server{fn: fn})
}

func startServer(t *testing.T, srv consumerv1.EventConsumerServiceServer) consumerv1.EventConsumerServiceClient {
	conn := grpcserver.MustStartWith(t, grpcserver.Config{Logger: quiet}, func(s *grpc.Server) {
		consumerv1.RegisterEventConsumerServiceServer(s, srv)
	})
	return consumerv1.NewEventConsumerServiceClient(conn)
}

func validate(ev *eventv1.Event) error {
	switch {
	case ev == nil:
		return status.Error(codes.InvalidArgument, "event is required")
	case ev.GetId() == "" || ev.GetSource() == "":
		return status.Error(codes.InvalidArgument, "event source and id are required")
	case ev.GetType() != validType:
		return status.Errorf(codes.InvalidArgument, "unsupported event type %q", ev.GetType())
	}
	return nil
}

// sqlConsumer is a correct consumer: the effect and the processed mark share
// one transaction.
var migrations = fstest.MapFS{
	"001_effects.sql": {Data: []byte("CREATE TABLE effects (source TEXT NOT NULL, event_id TEXT NOT NULL)")},
}

var errSeen = errors.New("seen before")

func sqlConsumer(db *sqlstore.DB) consumerFunc {
	return func(ctx context.Context, req *consumerv1.DeliverRequest) error {
		ev := req.GetEvent()
		if err := validate(ev); err != nil {
			return err
		}
		if ev.GetSubject() == laterSubject {
			return status.Error(codes.Unavailable, "not yet")
		}
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			first, err := sqlstore.MarkProcessed(ctx, tx, db.Dialect(), "test", ev.GetSource(), ev.GetId())
			if err != nil {
				return err
			}
			if !first {
				return errSeen
			}
			_, err = tx.ExecContext(ctx, db.Dialect().Rebind("INSERT INTO effects (source, event_id) VALUES (?, ?)"), ev.GetSource(), ev.GetId())
			return err
		})
		switch {
		case err == nil:
			return nil
		case errors.Is(err, errSeen):
			return status.Error(codes.AlreadyExists, "already processed")
		case ctx.Err() != nil:
			return status.FromContextError(ctx.Err()).Err()
		default:
			return status.Error(codes.Unavailable, "store unavailable")
		}
	}
}

func sqlEffects(db *sqlstore.DB) func(testing.TB, *eventv1.Event) int {
	return func(tb testing.TB, ev *eventv1.Event) int {
		tb.Helper()
		var n int
		err := db.QueryRowContext(context.Background(), db.Dialect().Rebind("SELECT COUNT(*) FROM effects WHERE source = ? AND event_id = ?"),
			ev.GetSource(), ev.GetId()).Scan(&n)
		if err != nil {
			tb.Fatalf("count effects: %v", err)
		}
		return n
	}
}

// TestCorrectConsumerPasses runs the whole suite, as a service would, against
// a consumer that does it right, on both databases.
func TestCorrectConsumerPasses(t *testing.T) {
	sqlstoretest.ForEachDialect(t, migrations, func(t *testing.T, db *sqlstore.DB) {
		Run(t, Config{
			Client:   startConsumer(t, sqlConsumer(db)),
			NewEvent: newTestEvent,
			Invalid:  invalidEvent,
			Retryable: func(id string) *eventv1.Event {
				ev := newTestEvent(id)
				ev.Subject = laterSubject
				return ev
			},
			Effects: sqlEffects(db),
		})
	})
}

// laterSubject marks an event the correct consumer answers UNAVAILABLE.
const laterSubject = "not-yet"

// TestBatchChecksFlagAllOrNothing: a DeliverBatch that fails every event of a
// batch when one is bad breaks the contract (one event's failure fails only it).
func TestBatchChecksFlagAllOrNothing(t *testing.T) {
	m := newMemory()
	fn := func(_ context.Context, req *consumerv1.DeliverRequest) error {
		if err := validate(req.GetEvent()); err != nil {
			return err
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.seen[key(req.GetEvent())] {
			return status.Error(codes.AlreadyExists, "seen")
		}
		m.seen[key(req.GetEvent())] = true
		m.effects[key(req.GetEvent())]++
		return nil
	}
	cfg := Config{Client: startServer(t, allOrNothing{server{fn: fn}}), NewEvent: newTestEvent, Invalid: invalidEvent, Effects: m.count}
	for _, name := range []string{"batch_terminal_and_retry", "batch_missing_identity"} {
		if rec := runCheck(t, cfg, name); !rec.Failed() {
			t.Errorf("check %s passed an all-or-nothing batch consumer", name)
		}
	}
	for _, name := range []string{"batch", "batch_redelivery"} {
		if rec := runCheck(t, cfg, name); rec.Failed() {
			t.Errorf("check %s failed where the consumer is right: %s", name, strings.Join(rec.msgs, "; "))
		}
	}
}

// memory is an in-memory effect log for the faulty consumers.
type memory struct {
	mu      sync.Mutex
	seen    map[string]bool
	effects map[string]int
}

func newMemory() *memory { return &memory{seen: map[string]bool{}, effects: map[string]int{}} }

func key(ev *eventv1.Event) string { return ev.GetSource() + "/" + ev.GetId() }

func (m *memory) count(_ testing.TB, ev *eventv1.Event) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.effects[key(ev)]
}

func (m *memory) apply(ev *eventv1.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.effects[key(ev)]++
}

// recorder is a testing.TB that records failures instead of failing the real
// test, so the suite's verdict on a faulty consumer can be asserted.
type recorder struct {
	testing.TB
	mu       sync.Mutex
	failed   bool
	skipped  bool
	msgs     []string
	cleanups []func()
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *recorder) Error(args ...any)                 { r.Errorf("%s", fmt.Sprint(args...)) }
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...); runtime.Goexit() }
func (r *recorder) Fatal(args ...any)                 { r.Error(args...); runtime.Goexit() }
func (r *recorder) Fail()                             { r.Errorf("Fail called") }
func (r *recorder) FailNow()                          { r.Fail(); runtime.Goexit() }
func (r *recorder) Skip(args ...any)                  { r.SkipNow() }
func (r *recorder) Skipf(string, ...any)              { r.SkipNow() }
func (r *recorder) SkipNow() {
	r.mu.Lock()
	r.skipped = true
	r.mu.Unlock()
	runtime.Goexit()
}
func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

// runCheck runs one named check against cfg with a recorder.
func runCheck(t *testing.T, cfg Config, name string) *recorder {
	t.Helper()
	cfg.setDefaults()
	rec := &recorder{TB: t}
	s := newSuite(t, cfg)
	var c *check
	for i := range checks {
		if checks[i].name == name {
			c = &checks[i]
		}
	}
	if c == nil {
		t.Fatalf("no check %q", name)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.run(rec, s)
	}()
	<-done
	for i := len(rec.cleanups) - 1; i >= 0; i-- {
		rec.cleanups[i]()
	}
	return rec
}

// TestSuiteFlagsFaultyConsumers proves the checks can fail: each faulty
// consumer (real gRPC over loopback) must be flagged by the checks aimed at
// its fault and pass the ones it does not break.
func TestSuiteFlagsFaultyConsumers(t *testing.T) {
	tests := []struct {
		name     string
		consumer func(m *memory) consumerFunc
		newEvent func(id string) *eventv1.Event
		mustFail []string
		mustPass []string
	}{
		{
			name: "no dedupe",
			consumer: func(m *memory) consumerFunc {
				return func(_ context.Context, req *consumerv1.DeliverRequest) error {
					if err := validate(req.GetEvent()); err != nil {
						return err
					}
					m.apply(req.GetEvent())
					return nil
				}
			},
			mustFail: []string{"redelivery", "concurrent_duplicates"},
			mustPass: []string{"first_delivery", "invalid_event", "missing_identity"},
		},
		{
			// Dedupes with check-then-act: right one at a time, wrong under
			// concurrency. It waits for a concurrent twin between check and act
			// so that the race is certain rather than likely.
			name: "check then act",
			consumer: func(m *memory) consumerFunc {
				var mu sync.Mutex
				arrived := map[string]chan struct{}{}
				return func(_ context.Context, req *consumerv1.DeliverRequest) error {
					ev := req.GetEvent()
					if err := validate(ev); err != nil {
						return err
					}
					m.mu.Lock()
					seen := m.seen[key(ev)]
					m.mu.Unlock()
					if seen {
						return status.Error(codes.AlreadyExists, "seen")
					}
					mu.Lock()
					ch, twin := arrived[key(ev)]
					if !twin {
						ch = make(chan struct{})
						arrived[key(ev)] = ch
					} else {
						close(ch)
					}
					mu.Unlock()
					if !twin {
						select {
						case <-ch:
						case <-time.After(time.Second):
						}
					}
					m.mu.Lock()
					m.seen[key(ev)] = true
					m.mu.Unlock()
					m.apply(ev)
					return nil
				}
			},
			mustFail: []string{"concurrent_duplicates"},
			mustPass: []string{"first_delivery", "redelivery"},
		},
		{
			name: "retries what it cannot handle",
			consumer: func(m *memory) consumerFunc {
				return func(_ context.Context, req *consumerv1.DeliverRequest) error {
					ev := req.GetEvent()
					if ev.GetType() != validType {
						return status.Error(codes.Unavailable, "try again") // should be terminal
					}
					m.mu.Lock()
					defer m.mu.Unlock()
					if m.seen[key(ev)] {
						return status.Error(codes.AlreadyExists, "seen")
					}
					m.seen[key(ev)] = true // even with an empty id: no identity check
					m.effects[key(ev)]++
					return nil
				}
			},
			mustFail: []string{"invalid_event", "missing_identity"},
			mustPass: []string{"first_delivery", "redelivery", "concurrent_duplicates"},
		},
		{
			// Applies the effect outside the transaction that records the
			// event, then gives up when the deadline is tight: the retry
			// applies it again.
			name: "effect outside the mark",
			consumer: func(m *memory) consumerFunc {
				return func(ctx context.Context, req *consumerv1.DeliverRequest) error {
					ev := req.GetEvent()
					if err := validate(ev); err != nil {
						return err
					}
					m.mu.Lock()
					seen := m.seen[key(ev)]
					m.mu.Unlock()
					if seen {
						return status.Error(codes.AlreadyExists, "seen")
					}
					m.apply(ev)
					if d, ok := ctx.Deadline(); ok && time.Until(d) < 5*time.Second {
						<-ctx.Done() // slow to record under a tight deadline
						return status.FromContextError(ctx.Err()).Err()
					}
					m.mu.Lock()
					m.seen[key(ev)] = true
					m.mu.Unlock()
					return nil
				}
			},
			mustFail: []string{"deadline"},
			mustPass: []string{"first_delivery", "redelivery", "invalid_event"},
		},
		{
			name: "NewEvent ignores its id",
			consumer: func(m *memory) consumerFunc {
				return func(context.Context, *consumerv1.DeliverRequest) error { return nil }
			},
			newEvent: func(string) *eventv1.Event { return newTestEvent("fixed") },
			mustFail: []string{"first_delivery", "redelivery"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemory()
			cfg := Config{
				Client:   startConsumer(t, tc.consumer(m)),
				NewEvent: newTestEvent,
				Invalid:  invalidEvent,
				Effects:  m.count,
			}
			if tc.newEvent != nil {
				cfg.NewEvent = tc.newEvent
			}
			for _, name := range tc.mustFail {
				if rec := runCheck(t, cfg, name); !rec.Failed() {
					t.Errorf("check %s passed a consumer that breaks it", name)
				} else {
					t.Logf("check %s flagged it: %s", name, strings.Join(rec.msgs, "; "))
				}
			}
			for _, name := range tc.mustPass {
				if rec := runCheck(t, cfg, name); rec.Failed() {
					t.Errorf("check %s failed where the consumer is right: %s", name, strings.Join(rec.msgs, "; "))
				}
			}
		})
	}
}

func TestInvalidSkippedWhenUnset(t *testing.T) {
	db := sqlstoretest.SQLite(t, migrations)
	rec := runCheck(t, Config{Client: startConsumer(t, sqlConsumer(db)), NewEvent: newTestEvent, Effects: sqlEffects(db)}, "invalid_event")
	if !rec.skipped || rec.Failed() {
		t.Errorf("invalid_event with no Invalid event: skipped=%v failed=%v, want a skip", rec.skipped, rec.Failed())
	}
}

func TestConfigValidate(t *testing.T) {
	client := consumerv1.NewEventConsumerServiceClient(nil)
	tests := []struct {
		name    string
		cfg     Config
		wantErr []string
	}{
		{"empty", Config{}, []string{"Client is required", "NewEvent is required", "Effects is required"}},
		{"negative timeout", Config{Client: client, NewEvent: newTestEvent, Effects: newMemory().count, Timeout: -1}, []string{"Timeout"}},
		{"complete", Config{Client: client, NewEvent: newTestEvent, Effects: newMemory().count}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Errorf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate = nil, want an error")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate = %q, want it to mention %q", err, w)
				}
			}
		})
	}
}
