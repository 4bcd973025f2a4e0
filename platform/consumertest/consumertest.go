// Package consumertest is the conformance suite every EventConsumerService
// implementation passes (the contract in hookmesh/consumer/v1): idempotent on
// (source, id) including concurrent duplicates, status codes as the contract
// says, deadlines honoured without a second effect, and DeliverBatch giving each
// event the status Deliver would have (one event failing fails only itself).
//
//	func TestConformance(t *testing.T) {
//		consumertest.Run(t, consumertest.Config{
//			Client:   consumerv1.NewEventConsumerServiceClient(grpcserver.MustStart(t, register)),
//			NewEvent: func(id string) *eventv1.Event { ... },
//			Invalid:  &eventv1.Event{...},
//			Effects:  func(t testing.TB, ev *eventv1.Event) int { ... },
//		})
//	}
package consumertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Config describes the consumer under test. The batch checks use DeliverBatch and
// skip when the consumer answers it UNIMPLEMENTED (the RPC is optional).
type Config struct {
	// Client reaches the consumer, normally over real gRPC on loopback.
	Client consumerv1.EventConsumerServiceClient
	// NewEvent returns an event the consumer applies, with the given id. Each
	// id must describe an independent effect (e.g. its own user or order).
	NewEvent func(id string) *eventv1.Event
	// Invalid is an event the consumer must reject with a terminal code. Nil
	// skips that check (say why in your test if so).
	Invalid *eventv1.Event
	// Retryable returns an event the consumer answers with a retry code for now
	// (e.g. one that refers to something not yet known), with the given id; used
	// by the batch checks. Nil skips the retry part of them (say why if so).
	Retryable func(id string) *eventv1.Event
	// Effects reports how many times the effect of ev is visible (0, 1, …),
	// read from the consumer's own storage once Deliver has returned.
	Effects func(t testing.TB, ev *eventv1.Event) int
	// Subscription is sent in every request. Default "conformance".
	Subscription string
	// Timeout bounds each ordinary call. Default 30s.
	Timeout time.Duration
}

// Validate reports a Config the suite cannot run with.
func (c Config) Validate() error {
	var missing []error
	if c.Client == nil {
		missing = append(missing, errors.New("Client is required"))
	}
	if c.NewEvent == nil {
		missing = append(missing, errors.New("NewEvent is required"))
	}
	if c.Effects == nil {
		missing = append(missing, errors.New("Effects is required"))
	}
	if c.Timeout < 0 {
		missing = append(missing, errors.New("Timeout must not be negative"))
	}
	if err := errors.Join(missing...); err != nil {
		return fmt.Errorf("consumertest: %w", err)
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.Subscription == "" {
		c.Subscription = "conformance"
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
}

// Terminal are the codes that dead-letter an event at once.
var Terminal = map[codes.Code]bool{
	codes.InvalidArgument: true, codes.FailedPrecondition: true, codes.PermissionDenied: true,
	codes.NotFound: true, codes.OutOfRange: true, codes.Unimplemented: true, codes.DataLoss: true,
}

// Done are the codes that mean the event is handled.
var Done = map[codes.Code]bool{codes.OK: true, codes.AlreadyExists: true}

// check is one conformance property; it reports through tb only.
type check struct {
	name string
	run  func(tb testing.TB, s *suite)
}

var checks = []check{
	{"first_delivery", checkFirstDelivery},
	{"redelivery", checkRedelivery},
	{"concurrent_duplicates", checkConcurrentDuplicates},
	{"invalid_event", checkInvalid},
	{"missing_identity", checkMissingIdentity},
	{"deadline", checkDeadline},
	{"batch", checkBatch},
	{"batch_terminal_and_retry", checkBatchTerminalAndRetry},
	{"batch_redelivery", checkBatchRedelivery},
	{"batch_missing_identity", checkBatchMissingIdentity},
}

// Run runs every check as a subtest of t.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.setDefaults()
	s := newSuite(t, cfg)
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) { c.run(t, s) })
	}
}

type suite struct {
	cfg    Config
	prefix string // makes ids unique per run, so reruns against one store stay independent
}

func newSuite(tb testing.TB, cfg Config) *suite {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatalf("consumertest: random id prefix: %v", err)
	}
	return &suite{cfg: cfg, prefix: "ct-" + hex.EncodeToString(b[:])}
}

// event returns a fresh event for the named check.
func (s *suite) event(tb testing.TB, name string) *eventv1.Event {
	tb.Helper()
	id := s.prefix + "-" + name
	ev := s.cfg.NewEvent(id)
	if ev == nil {
		tb.Fatalf("NewEvent(%q) returned nil", id)
	}
	if ev.GetId() != id {
		tb.Fatalf("NewEvent(%q) returned an event with id %q; it must use the id it is given", id, ev.GetId())
	}
	if ev.GetSource() == "" {
		tb.Fatalf("NewEvent(%q) returned an event without a source", id)
	}
	return ev
}

func (s *suite) deliver(ctx context.Context, ev *eventv1.Event, attempt int32, replay bool) codes.Code {
	_, err := s.cfg.Client.Deliver(ctx, &consumerv1.DeliverRequest{
		Event: ev, Subscription: s.cfg.Subscription, Attempt: attempt, Replay: replay,
	})
	return status.Code(err)
}

// call delivers with the ordinary timeout and returns the code and the error text.
func (s *suite) call(ev *eventv1.Event, attempt int32, replay bool) (codes.Code, string) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	_, err := s.cfg.Client.Deliver(ctx, &consumerv1.DeliverRequest{
		Event: ev, Subscription: s.cfg.Subscription, Attempt: attempt, Replay: replay,
	})
	if err != nil {
		return status.Code(err), err.Error()
	}
	return codes.OK, ""
}

// settle redelivers ev the way the dispatcher would, until the consumer says
// done or gives a terminal code (or a liveness bound passes); it returns the
// last code.
func (s *suite) settle(ev *eventv1.Event, attempt int32) (codes.Code, string) {
	deadline := time.Now().Add(s.cfg.Timeout)
	for {
		code, msg := s.call(proto.Clone(ev).(*eventv1.Event), attempt, false)
		if Done[code] || Terminal[code] || time.Now().After(deadline) {
			return code, msg
		}
		attempt++
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *suite) wantEffects(tb testing.TB, ev *eventv1.Event, want int, when string) {
	tb.Helper()
	if got := s.cfg.Effects(tb, ev); got != want {
		tb.Errorf("%s: effect of %s/%s visible %d times, want %d", when, ev.GetSource(), ev.GetId(), got, want)
	}
}

func checkFirstDelivery(tb testing.TB, s *suite) {
	ev := s.event(tb, "first")
	if code, msg := s.call(ev, 1, false); code != codes.OK {
		tb.Errorf("first delivery: code %v (%s), want OK", code, msg)
	}
	s.wantEffects(tb, ev, 1, "after the first delivery")
}

func checkRedelivery(tb testing.TB, s *suite) {
	ev := s.event(tb, "redelivery")
	if code, msg := s.call(ev, 1, false); code != codes.OK {
		tb.Fatalf("first delivery: code %v (%s), want OK", code, msg)
	}
	steps := []struct {
		name    string
		attempt int32
		replay  bool
	}{
		{"retry", 2, false},
		{"retry again", 3, false},
		{"replay", 1, true},
	}
	for _, st := range steps {
		// A fresh copy, as a redelivery decodes a new message.
		if code, msg := s.call(proto.Clone(ev).(*eventv1.Event), st.attempt, st.replay); !Done[code] {
			tb.Errorf("%s of a processed event: code %v (%s), want OK or ALREADY_EXISTS", st.name, code, msg)
		}
	}
	s.wantEffects(tb, ev, 1, "after redeliveries of one event")
}

func checkConcurrentDuplicates(tb testing.TB, s *suite) {
	const n = 8
	ev := s.event(tb, "concurrent")
	start := make(chan struct{})
	results := make([]codes.Code, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
			defer cancel()
			results[i] = s.deliver(ctx, proto.Clone(ev).(*eventv1.Event), 1, false)
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, code := range results {
		switch {
		case code == codes.OK:
			ok++
		case Terminal[code]:
			// Contention may be answered with a retry code, never a dead letter.
			tb.Errorf("concurrent delivery %d: terminal code %v for a valid event", i, code)
		}
	}
	if ok == 0 {
		// Everyone said "seen before" or "retry": settle with more deliveries.
		if code, msg := s.settle(ev, 2); !Done[code] {
			tb.Errorf("delivery after %d concurrent ones (codes %v): %v (%s), want OK or ALREADY_EXISTS", n, results, code, msg)
		}
	}
	s.wantEffects(tb, ev, 1, fmt.Sprintf("after %d concurrent deliveries (codes %v)", n, results))
}

func checkInvalid(tb testing.TB, s *suite) {
	if s.cfg.Invalid == nil {
		tb.Skip("Config.Invalid is nil: the consumer declares no event it rejects")
	}
	ev := proto.Clone(s.cfg.Invalid).(*eventv1.Event)
	code, msg := s.call(ev, 1, false)
	if !Terminal[code] {
		tb.Errorf("invalid event: code %v (%s), want a terminal code (INVALID_ARGUMENT, FAILED_PRECONDITION, …) so it is dead-lettered, not retried", code, msg)
	}
	s.wantEffects(tb, ev, 0, "after an invalid event")
}

func checkMissingIdentity(tb testing.TB, s *suite) {
	noID := s.event(tb, "no-id")
	noID.Id = ""
	noSource := s.event(tb, "no-source")
	noSource.Source = ""
	cases := []struct {
		name string
		ev   *eventv1.Event
	}{
		{"no event", nil},
		{"empty id", noID},
		{"empty source", noSource},
	}
	for _, c := range cases {
		// Without (source, id) a consumer cannot de-duplicate: it must refuse, for good.
		if code, msg := s.call(c.ev, 1, false); !Terminal[code] {
			tb.Errorf("%s: code %v (%s), want a terminal code", c.name, code, msg)
		}
	}
}

func checkDeadline(tb testing.TB, s *suite) {
	cases := []struct {
		name    string
		timeout time.Duration
	}{
		{"expired", -time.Second}, // the client refuses to send
		{"1ms", time.Millisecond}, // expires in flight, maybe mid-transaction
		{"500ms", 500 * time.Millisecond},
	}
	for _, c := range cases {
		ev := s.event(tb, "deadline-"+c.name)
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		code := s.deliver(ctx, ev, 1, false)
		cancel()
		switch {
		case c.timeout < 0 && code != codes.DeadlineExceeded && code != codes.Canceled:
			tb.Errorf("%s: code %v, want DEADLINE_EXCEEDED or CANCELLED", c.name, code)
		case Terminal[code]:
			tb.Errorf("%s: terminal code %v; a timeout must be retried, not dead-lettered", c.name, code)
		}
		// The call may have committed before its deadline, never more than once.
		if got := s.cfg.Effects(tb, ev); got > 1 {
			tb.Errorf("%s: effect visible %d times after a timed-out delivery", c.name, got)
		}
		// The dispatcher retries; that settles it to exactly one effect.
		if code, msg := s.settle(ev, 2); !Done[code] {
			tb.Errorf("%s: retry after the deadline: code %v (%s), want OK or ALREADY_EXISTS", c.name, code, msg)
		}
		s.wantEffects(tb, ev, 1, c.name+": after the retry")
	}
}
