package dispatch

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	"github.com/hookmesh/hookmesh/platform/eventually"
)

// ids lists the event ids c was called with, in call order.
func (c *testConsumer) ids() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, cl := range c.calls {
		out = append(out, cl.req.GetEvent().GetId())
	}
	return out
}

func listed(t *testing.T, d *Dispatcher, name string) *adminv1.Subscription {
	t.Helper()
	subs, err := d.ListSubscriptions(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		if s.GetName() == name {
			return s
		}
	}
	t.Fatalf("subscription %q not listed", name)
	return nil
}

// waitIDs waits until c has been called with exactly want (in any order), then
// a little longer to catch a redelivery.
func waitIDs(t *testing.T, c *testConsumer, what string, want ...string) {
	t.Helper()
	key := func(ids []string) string {
		m := map[string]int{}
		for _, id := range ids {
			m[id]++
		}
		return fmt.Sprint(m)
	}
	eventually.True(t, 10*time.Second, what, func() bool { return key(c.ids()) == key(want) })
	time.Sleep(300 * time.Millisecond)
	if got := c.ids(); key(got) != key(want) {
		t.Fatalf("%s: calls %v, want %v", what, got, want)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestStartFrom: events appended before a subscription exists reach it per its
// start_from (all of them, none, or those received at or after a time), nothing
// is redelivered to the subscription that already had them, and a changed
// start_from on an existing subscription changes nothing.
func TestStartFrom(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	consumers := map[string]*testConsumer{}
	addrs := map[string]string{}
	for _, n := range []string{"old", "all", "none", "since"} {
		consumers[n] = &testConsumer{fx: newEffects()}
		addrs[n], _ = serve(t, consumers[n], "127.0.0.1:0")
	}
	subWith := func(name, from string) Subscription {
		s := sub(name, addrs[name], "a.*")
		s.StartFrom = from
		return s
	}

	first := e.start(e.config(subWith("old", "")))
	for _, id := range []string{"h-1", "h-2", "h-3"} {
		e.append(event(id, "a.x"))
	}
	time.Sleep(50 * time.Millisecond)
	cut := time.Now()
	time.Sleep(50 * time.Millisecond)
	e.append(event("h-4", "a.x"))
	last := e.append(event("h-5", "a.x"))
	waitIDs(t, consumers["old"], "old before", "h-1", "h-2", "h-3", "h-4", "h-5")
	if err := first.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	second := e.start(e.config(subWith("old", ""), subWith("all", "all"), subWith("none", "new"),
		subWith("since", cut.UTC().Format(time.RFC3339Nano))))
	e.append(event("l-1", "a.x"))
	waitIDs(t, consumers["all"], "all", "h-1", "h-2", "h-3", "h-4", "h-5", "l-1")
	waitIDs(t, consumers["since"], "since", "h-4", "h-5", "l-1")
	waitIDs(t, consumers["none"], "none", "l-1")
	waitIDs(t, consumers["old"], "old after", "h-1", "h-2", "h-3", "h-4", "h-5", "l-1")

	for name, want := range map[string]struct {
		from    string
		through uint64
	}{
		"old":   {"new", 0},
		"none":  {"new", 0},
		"all":   {"all", last},
		"since": {cut.UTC().Format(time.RFC3339Nano), last},
	} {
		var s *adminv1.Subscription
		eventually.True(t, 5*time.Second, name+" acked", func() bool {
			s = listed(t, second, name)
			return s.GetAckedThrough() > last
		})
		if s.GetStartFrom() != want.from || s.GetBackfillThrough() != want.through || s.GetBackfilling() {
			t.Errorf("%s: start_from %q, backfill_through %d, backfilling %v; want %q, %d, false",
				name, s.GetStartFrom(), s.GetBackfillThrough(), s.GetBackfilling(), want.from, want.through)
		}
	}
	if err := second.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	// Changed start_from on existing subscriptions: positions kept, logged.
	var logs syncBuffer
	cfg := e.config(subWith("old", "all"), subWith("all", "new"), subWith("none", "all"),
		subWith("since", "all"))
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	third := e.start(cfg)
	e.append(event("l-2", "a.x"))
	waitIDs(t, consumers["none"], "none after change", "l-1", "l-2")
	waitIDs(t, consumers["all"], "all after change", "h-1", "h-2", "h-3", "h-4", "h-5", "l-1", "l-2")
	waitIDs(t, consumers["since"], "since after change", "h-4", "h-5", "l-1", "l-2")
	waitIDs(t, consumers["old"], "old after change", "h-1", "h-2", "h-3", "h-4", "h-5", "l-1", "l-2")
	if s := listed(t, third, "none"); s.GetStartFrom() != "new" || s.GetBackfillThrough() != 0 {
		t.Errorf("none after change: start_from %q, backfill_through %d", s.GetStartFrom(), s.GetBackfillThrough())
	}
	if s := listed(t, third, "all"); s.GetStartFrom() != "all" || s.GetBackfillThrough() != last {
		t.Errorf("all after change: start_from %q, backfill_through %d", s.GetStartFrom(), s.GetBackfillThrough())
	}
	out := logs.String()
	for _, name := range []string{"old", "all", "none", "since"} {
		if !strings.Contains(out, "start_from applies only to a new subscription") || !strings.Contains(out, "subscription="+name) {
			t.Errorf("no info line for %s in:\n%s", name, out)
		}
	}
}

// TestBackfillProgress: while a backfill is under way it is bounded by
// max_in_flight and GET /v1/subscriptions shows it.
func TestBackfillProgress(t *testing.T) {
	e := newEnv(t)
	var last uint64
	for i := range 20 {
		last = e.append(event(fmt.Sprintf("h-%d", i), "a.x"))
	}
	release := make(chan struct{})
	var mu sync.Mutex
	inFlight, peak := 0, 0
	c := &testConsumer{fx: newEffects(), behave: func(ctx context.Context, _ *consumerv1.DeliverRequest) error {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		mu.Unlock()
		defer func() { mu.Lock(); inFlight--; mu.Unlock() }()
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}}
	addr, _ := serve(t, c, "127.0.0.1:0")
	s := sub("late", addr, "a.*")
	s.StartFrom = "all"
	s.MaxInFlight = 2
	s.Timeout = 30 * time.Second // the held attempts must not time out
	s.Batch.MaxEvents = 1        // one Deliver per attempt: two held calls fill max_in_flight
	d := e.start(e.config(s))
	eventually.True(t, 5*time.Second, "first attempts", func() bool { return c.numCalls() == 2 })
	got := listed(t, d, "late")
	if !got.GetBackfilling() || got.GetBackfillThrough() != last || got.GetAckedThrough() >= last || got.GetBacklog() != 20 {
		t.Fatalf("during backfill: backfilling %v, through %d, acked %d, backlog %d; want true, %d, < %d, 20",
			got.GetBackfilling(), got.GetBackfillThrough(), got.GetAckedThrough(), got.GetBacklog(), last, last)
	}
	close(release)
	eventually.True(t, 10*time.Second, "backfill done", func() bool {
		g := listed(t, d, "late")
		return !g.GetBackfilling() && g.GetAckedThrough() == last
	})
	mu.Lock()
	defer mu.Unlock()
	if peak > 2 {
		t.Errorf("%d attempts in flight, max_in_flight 2", peak)
	}
	if n, applied := c.numCalls(), c.fx.total(); n != 20 || applied != 20 {
		t.Errorf("%d calls, %d events applied; want 20 and 20", n, applied)
	}
}

func TestStartFromInvalid(t *testing.T) {
	e := newEnv(t)
	for _, v := range []string{"yesterday", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)} {
		s := sub("bad", "127.0.0.1:1", "a.*")
		s.StartFrom = v
		_, err := New(ctxT(t), e.config(s))
		if err == nil || !strings.Contains(err.Error(), "start_from") {
			t.Errorf("start_from %q: got %v, want an error naming start_from", v, err)
		}
	}
}
