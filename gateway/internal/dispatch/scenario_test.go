package dispatch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	"github.com/hookmesh/hookmesh/platform/eventually"
)

// TestDownDeadLetterReplay: the service is down, attempts are retried and
// exhausted into a dead letter; the service comes back, the operator replays the
// event and it is delivered, once in effect.
func TestDownDeadLetterReplay(t *testing.T) {
	e := newEnv(t)
	c := &testConsumer{fx: newEffects()}
	addr, stop := serve(t, c, "127.0.0.1:0")
	stop() // down: nothing listens on addr

	s := sub("email", addr, "users.*")
	s.Retry = RetryPolicy{Policy: PolicyFixed, NumRetries: 2, Interval: 20 * time.Millisecond}
	s.Timeout = 500 * time.Millisecond
	d := e.start(e.config(s))

	ev := event("u-1", "users.created")
	e.append(ev)
	dl := waitState(t, d, ev, "email", adminv1.DeliveryState_DELIVERY_STATE_DEAD)
	if len(dl.GetAttempts()) != 3 {
		t.Fatalf("attempts = %d, want 3", len(dl.GetAttempts()))
	}
	for _, a := range dl.GetAttempts() {
		if a.GetCode() != "UNAVAILABLE" && a.GetCode() != "DEADLINE_EXCEEDED" {
			t.Fatalf("attempt code %s, want UNAVAILABLE", a.GetCode())
		}
	}
	list, _, err := d.ListDeadLetters(ctxT(t), DeadLetterQuery{Subscription: "email"})
	if err != nil || len(list) != 1 {
		t.Fatalf("dead letters = %v, %v", list, err)
	}
	dead := list[0]
	if dead.GetReason() != "exhausted" || len(dead.GetAttempts()) != 3 || dead.GetEvent().GetId() != "u-1" {
		t.Fatalf("dead letter = %v", dead)
	}

	_, _ = serve(t, c, addr) // back up on the same address
	resp, err := d.ReplayEvent(ctxT(t), "", "u-1", nil)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if len(resp) != 1 || resp[0] != "email" {
		t.Fatalf("replayed to %v", resp)
	}
	dl = waitState(t, d, ev, "email", adminv1.DeliveryState_DELIVERY_STATE_DELIVERED)
	// The replay is a new cycle: its attempts count from 1 again (the client may
	// still be reconnecting for the first of them), and the last one succeeded.
	replayed := dl.GetAttempts()[3:]
	last := replayed[len(replayed)-1]
	if !replayed[0].GetReplay() || replayed[0].GetNumber() != 1 || !last.GetReplay() || last.GetCode() != "OK" {
		t.Fatalf("replay attempts = %v, want replay attempts from 1 ending OK", replayed)
	}
	calls := c.callsFor("u-1")
	if len(calls) != 1 || !calls[0].req.GetReplay() {
		t.Fatalf("consumer calls = %d (replay flag %v), want exactly the replay", len(calls), len(calls) > 0 && calls[0].req.GetReplay())
	}
	if n := c.fx.count("test", "u-1"); n != 1 {
		t.Fatalf("effect applied %d times", n)
	}
	// The dead letter is closed as replayed; the open list is empty.
	list, _, _ = d.ListDeadLetters(ctxT(t), DeadLetterQuery{Subscription: "email"})
	if len(list) != 0 {
		t.Fatalf("open dead letters after replay = %d", len(list))
	}
	list, _, _ = d.ListDeadLetters(ctxT(t), DeadLetterQuery{Subscription: "email", IncludeResolved: true})
	if len(list) != 1 || list[0].GetResolution() != "replayed" || list[0].GetResolveTime() == nil {
		t.Fatalf("closed dead letters = %v", list)
	}
	// A second replay is delivered again but answered ALREADY_EXISTS: still one effect.
	if _, err := d.ReplayEvent(ctxT(t), "test", "u-1", []string{"email"}); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 10*time.Second, "second replay", func() bool { return len(c.callsFor("u-1")) == 2 })
	waitState(t, d, ev, "email", adminv1.DeliveryState_DELIVERY_STATE_DELIVERED)
	if n := c.fx.count("test", "u-1"); n != 1 {
		t.Fatalf("effect applied %d times", n)
	}
}

// TestHangingTargetIsolated: one target hangs; the others keep delivering.
func TestHangingTargetIsolated(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	var hung atomic.Int64
	hang := &testConsumer{fx: newEffects()}
	hang.behave = func(ctx context.Context, _ *consumerv1.DeliverRequest) error {
		hung.Add(1)
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-release:
			return nil
		}
	}
	fast1, fast2 := &testConsumer{fx: newEffects()}, &testConsumer{fx: newEffects()}
	hangAddr, _ := serve(t, hang, "127.0.0.1:0")
	addr1, _ := serve(t, fast1, "127.0.0.1:0")
	addr2, _ := serve(t, fast2, "127.0.0.1:0")
	slow := sub("slow", hangAddr, "orders.*")
	slow.MaxInFlight = 2
	slow.Timeout = 30 * time.Second
	slow.Retry = RetryPolicy{Policy: PolicyFixed, NumRetries: 0, Interval: time.Second}
	cfg := e.config(slow, sub("a", addr1, "orders.*"), sub("b", "builtin:b", "orders.*"))
	cfg.Conns = map[string]*grpc.ClientConn{"b": dial(t, addr2)}
	d := e.start(cfg)
	defer close(release)

	const n = 60
	for i := range n {
		e.append(event(fmt.Sprintf("o-%d", i), "orders.created"))
	}
	eventually.True(t, 30*time.Second, "the healthy subscriptions to deliver everything", func() bool {
		return fast1.fx.total() == n && fast2.fx.total() == n
	})
	if got := hung.Load(); got > 2 {
		t.Fatalf("hanging target got %d concurrent attempts, max_in_flight is 2", got)
	}
	// The delivered count follows the state write after each answer: wait for it.
	byName := map[string]*adminv1.Subscription{}
	eventually.True(t, 30*time.Second, "the delivered counts to reach every event", func() bool {
		resp, err := d.ListSubscriptions(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range resp {
			byName[s.GetName()] = s
		}
		return byName["a"].GetDelivered() == n && byName["b"].GetDelivered() == n
	})
	if b := byName["slow"].GetBacklog(); b < n-2 {
		t.Errorf("slow backlog = %d, want >= %d", b, n-2)
	}
	if byName["slow"].GetOldestUndeliveredAge() == nil {
		t.Error("slow has no oldest undelivered age")
	}
	if byName["a"].GetDelivered() != n || byName["b"].GetDelivered() != n {
		t.Errorf("delivered a=%d b=%d, want %d", byName["a"].GetDelivered(), byName["b"].GetDelivered(), n)
	}
}

// TestRetryBacklogDoesNotBlockNewEvents: more parked retries than max_in_flight
// do not hold delivery slots; new events go through.
func TestRetryBacklogDoesNotBlockNewEvents(t *testing.T) {
	e := newEnv(t)
	c := &testConsumer{fx: newEffects()}
	c.behave = func(_ context.Context, req *consumerv1.DeliverRequest) error {
		if strings.HasPrefix(req.GetEvent().GetId(), "bad-") {
			return status.Error(codes.Unavailable, "not now")
		}
		return nil
	}
	addr, _ := serve(t, c, "127.0.0.1:0")
	s := sub("narrow", addr, "test.*")
	s.MaxInFlight = 2
	s.Retry = RetryPolicy{Policy: PolicyFixed, NumRetries: 5, Interval: 10 * time.Minute}
	d := e.start(e.config(s))

	const bad, good = 10, 5
	for i := range bad {
		e.append(event(fmt.Sprintf("bad-%d", i), "test.x"))
	}
	eventually.True(t, 20*time.Second, "every bad event to be parked", func() bool {
		for i := range bad {
			if stateOf(t, d, event(fmt.Sprintf("bad-%d", i), "test.x"), "narrow") != adminv1.DeliveryState_DELIVERY_STATE_RETRYING {
				return false
			}
		}
		return true
	})
	for i := range good {
		e.append(event(fmt.Sprintf("good-%d", i), "test.x"))
	}
	eventually.True(t, 20*time.Second, "new events delivered past the retry backlog", func() bool {
		return c.fx.total() == good
	})
	resp, err := d.ListSubscriptions(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if b := resp[0].GetBacklog(); b < bad {
		t.Fatalf("backlog = %d, want the %d parked retries", b, bad)
	}
}

// TestKilledMidDeliveryRedelivered: a gateway dies after the consumer applied the
// event but before the dispatcher heard back; after restart the event is
// redelivered and the consumer's dedupe keeps it to one effect.
func TestKilledMidDeliveryRedelivered(t *testing.T) {
	e := newEnv(t)
	started := make(chan struct{})
	release := make(chan struct{})
	var first sync.Once
	c := &testConsumer{fx: newEffects()}
	c.behave = func(_ context.Context, req *consumerv1.DeliverRequest) error {
		hold := false
		first.Do(func() { hold = true })
		if hold {
			c.fx.apply(req.GetEvent()) // the effect is committed ...
			close(started)
			<-release // ... and the answer never reaches the dead gateway
			return status.Error(codes.Unavailable, "too late")
		}
		return nil
	}
	addr, _ := serve(t, c, "127.0.0.1:0")
	s := sub("svc", addr, "test.*")
	s.Timeout = time.Second

	nc, js := e.srv.Connect(t)
	cfg := e.config(s)
	cfg.JS = js
	ctx := ctxT(t)
	a, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ev := event("k-1", "test.x")
	e.append(ev)
	<-started
	nc.Close() // the gateway process dies: its connection is gone
	close(release)
	sctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	_ = a.Stop(sctx)
	cancel()

	b := e.start(e.config(s)) // restart
	waitState(t, b, ev, "svc", adminv1.DeliveryState_DELIVERY_STATE_DELIVERED)
	if n := len(c.callsFor("k-1")); n < 2 {
		t.Fatalf("calls = %d, want the redelivery too", n)
	}
	if n := c.fx.count("test", "k-1"); n != 1 {
		t.Fatalf("effect applied %d times", n)
	}
	// The redelivery is counted where it happened, and nowhere else.
	if n := testutil.ToFloat64(b.m.redeliveries.WithLabelValues("svc")); n != 1 {
		t.Fatalf("redeliveries after restart = %v, want 1", n)
	}
	if n := testutil.ToFloat64(a.m.redeliveries.WithLabelValues("svc")); n != 0 {
		t.Fatalf("redeliveries before the crash = %v, want 0", n)
	}
}

// TestStopMidDeliveryCancelledIsRetry: Stop's grace ends during an attempt; the
// attempt's CANCELLED is a retry, the message returns to the log at once and the
// next gateway delivers it.
func TestStopMidDeliveryCancelledIsRetry(t *testing.T) {
	e := newEnv(t)
	started := make(chan struct{}, 1)
	var calls atomic.Int64
	c := &testConsumer{fx: newEffects()}
	c.behave = func(ctx context.Context, _ *consumerv1.DeliverRequest) error {
		if calls.Add(1) == 1 {
			started <- struct{}{}
			<-ctx.Done() // hang until the caller gives up
			return status.FromContextError(ctx.Err()).Err()
		}
		return nil
	}
	addr, _ := serve(t, c, "127.0.0.1:0")
	s := oneAttempt(addr, 20*time.Second)
	a := e.start(e.config(s)) // stopped by the test; the cleanup's Stop is then a no-op
	ev := event("s-1", "test.x")
	e.append(ev)
	<-started
	sctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	err := a.Stop(sctx)
	cancel()
	if err == nil {
		t.Fatal("Stop reported no cancelled attempts")
	}
	b := e.start(e.config(s))
	dl := waitState(t, b, ev, "svc", adminv1.DeliveryState_DELIVERY_STATE_DELIVERED)
	as := dl.GetAttempts()
	if len(as) != 2 || as[0].GetCode() != "CANCELLED" || as[1].GetCode() != "OK" || as[1].GetNumber() != 2 {
		t.Fatalf("attempts = %v, want CANCELLED then OK (not dead-lettered)", as)
	}
}

// TestStopSkipsWaitingForUnreachableTarget: an attempt still waiting for a target
// that is down has sent nothing, so Stop cancels it at once instead of waiting out
// the attempt's deadline or the grace period; the event is retried once the target
// is back.
func TestStopSkipsWaitingForUnreachableTarget(t *testing.T) {
	e := newEnv(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	// the target is down: connections are refused
	if err := lis.Close(); err != nil {
		t.Fatal(err)
	}
	s := oneAttempt(addr, 2*time.Minute)
	a := e.start(e.config(s)) // stopped by the test; the cleanup's Stop is then a no-op
	ev := event("u-1", "test.x")
	e.append(ev)
	inFlight := a.m.inFlight.WithLabelValues("svc")
	eventually.True(t, 30*time.Second, "the attempt waits for the target", func() bool { return testutil.ToFloat64(inFlight) == 1 })
	grace := 2 * time.Minute
	sctx, cancel := context.WithTimeout(t.Context(), grace)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- a.Stop(sctx) }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Stop: %v (the grace period ended, nothing was cancelled early)", err)
		}
	case <-time.After(grace / 2):
		t.Fatal("Stop is waiting for an attempt to a target that is down")
	}

	c := &testConsumer{fx: newEffects()}
	serve(t, c, addr) // the target comes back on its address
	b := e.start(e.config(s))
	dl := waitState(t, b, ev, "svc", adminv1.DeliveryState_DELIVERY_STATE_DELIVERED)
	as := dl.GetAttempts()
	if len(as) != 2 || as[0].GetCode() != "CANCELLED" || as[1].GetCode() != "OK" {
		t.Fatalf("attempts = %v, want CANCELLED (shutdown) then OK", as)
	}
}

// oneAttempt subscribes "svc" at addr to test.* with a single attempt of timeout.
func oneAttempt(addr string, timeout time.Duration) Subscription {
	s := sub("svc", addr, "test.*")
	s.Timeout = timeout
	s.Retry = RetryPolicy{Policy: PolicyFixed, NumRetries: 0, Interval: time.Second}
	return s
}

// TestTwoDispatchersShareWork: two gateways on one stream share the durable
// consumers; each event is delivered once in normal operation.
func TestTwoDispatchersShareWork(t *testing.T) {
	e := newEnv(t)
	fx := newEffects()
	ca, cb := &testConsumer{fx: fx}, &testConsumer{fx: fx}
	slowly := func(context.Context, *consumerv1.DeliverRequest) error { time.Sleep(2 * time.Millisecond); return nil }
	ca.behave, cb.behave = slowly, slowly
	addrA, _ := serve(t, ca, "127.0.0.1:0")
	addrB, _ := serve(t, cb, "127.0.0.1:0")
	s := sub("svc", "builtin:svc", "test.*")
	s.MaxInFlight = 4
	cfgA, cfgB := e.config(s), e.config(s)
	cfgA.Conns = map[string]*grpc.ClientConn{"svc": dial(t, addrA)}
	cfgB.Conns = map[string]*grpc.ClientConn{"svc": dial(t, addrB)}
	e.start(cfgA)
	e.start(cfgB)

	const n = 200
	for i := range n {
		e.append(event(fmt.Sprintf("w-%d", i), "test.x"))
	}
	eventually.True(t, 30*time.Second, "all events delivered", func() bool { return fx.total() == n })
	time.Sleep(200 * time.Millisecond) // let any duplicate show up
	if got := ca.numCalls() + cb.numCalls(); got != n {
		t.Fatalf("%d calls for %d events: some were delivered twice", got, n)
	}
	if ca.numCalls() == 0 || cb.numCalls() == 0 {
		t.Fatalf("work not shared: %d / %d", ca.numCalls(), cb.numCalls())
	}
}

// TestPauseKeepsBacklogResumeDrains: pausing on one gateway stops every gateway;
// the backlog is kept and drains on resume.
func TestPauseKeepsBacklogResumeDrains(t *testing.T) {
	e := newEnv(t)
	c := &testConsumer{fx: newEffects()}
	addr, _ := serve(t, c, "127.0.0.1:0")
	s := sub("svc", addr, "test.*")
	a := e.start(e.config(s))
	b := e.start(e.config(s))

	resp, err := a.PauseSubscription(ctxT(t), "svc")
	if err != nil || !resp.GetPaused() {
		t.Fatalf("pause = %v, %v", resp, err)
	}
	eventually.True(t, 10*time.Second, "both gateways to apply the pause", func() bool {
		return a.byName["svc"].isPaused() && b.byName["svc"].isPaused()
	})
	const n = 20
	for i := range n {
		e.append(event(fmt.Sprintf("p-%d", i), "test.x"))
	}
	eventually.True(t, 10*time.Second, "the backlog to show", func() bool {
		l, err := b.ListSubscriptions(ctxT(t))
		return err == nil && l[0].GetBacklog() == n && l[0].GetPaused()
	})
	time.Sleep(300 * time.Millisecond)
	if got := c.numCalls(); got != 0 {
		t.Fatalf("%d deliveries while paused", got)
	}
	if _, err := b.ResumeSubscription(ctxT(t), "svc"); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 20*time.Second, "the backlog to drain", func() bool { return c.fx.total() == n })

	for _, name := range []string{"", "nope"} {
		_, err := a.PauseSubscription(ctxT(t), name)
		want := ErrNotFound
		if name == "" {
			want = ErrInvalid
		}
		if !errors.Is(err, want) {
			t.Errorf("pause %q: %v, want %v", name, err, want)
		}
	}
}
