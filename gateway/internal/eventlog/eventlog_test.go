package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/eventually"
)

func TestAppendAndDuplicate(t *testing.T) {
	t.Parallel()
	l := openLog(t, eventlog.Config{})
	first := mustAppend(t, l, newEvent("stripe", "evt_1", "stripe.charge.succeeded", 100))
	if first.Duplicate || first.Seq == 0 {
		t.Fatalf("first append = %+v, want accepted with a sequence", first)
	}
	tests := []struct {
		name    string
		ev      *eventv1.Event
		wantDup bool
	}{
		{"same source and id", newEvent("stripe", "evt_1", "stripe.charge.succeeded", 100), true},
		{"same id, body changed (a Hasura retry)", newEvent("stripe", "evt_1", "stripe.charge.succeeded", 300), true},
		{"same id, other source", newEvent("github", "evt_1", "github.push", 100), false},
		{"other id", newEvent("stripe", "evt_2", "stripe.charge.succeeded", 100), false},
		{"id with dots, slashes and unicode", newEvent("stripe", "a.b/c d=é", "stripe.x", 10), false},
		{"same odd id again", newEvent("stripe", "a.b/c d=é", "stripe.x", 10), true},
		{"long id", newEvent("stripe", strings.Repeat("é", 400), "stripe.x", 10), false},
		{"long id again", newEvent("stripe", strings.Repeat("é", 400), "stripe.x", 10), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := mustAppend(t, l, tc.ev)
			if res.Duplicate != tc.wantDup {
				t.Fatalf("Duplicate = %v, want %v", res.Duplicate, tc.wantDup)
			}
			if tc.wantDup && tc.ev.Id == "evt_1" && res.Seq != first.Seq {
				t.Fatalf("duplicate Seq = %d, want the original %d", res.Seq, first.Seq)
			}
		})
	}
	counts := countEvents(t, l)
	for id, n := range counts {
		if n != 1 {
			t.Errorf("%s stored %d times", id, n)
		}
	}
	if len(counts) != 5 {
		t.Errorf("stream holds %d distinct events, want 5: %v", len(counts), counts)
	}
}

func TestAppendRejectsInvalidEvents(t *testing.T) {
	t.Parallel()
	l := openLog(t, eventlog.Config{})
	tests := []struct {
		name string
		ev   *eventv1.Event
		want error
	}{
		{"nil", nil, eventlog.ErrInvalid},
		{"no source", newEvent("", "1", "t", 1), eventlog.ErrInvalid},
		{"source with a dot", newEvent("a.b", "1", "t", 1), eventlog.ErrInvalid},
		{"source with a wildcard", newEvent("a*", "1", "t", 1), eventlog.ErrInvalid},
		{"no id", newEvent("s", "", "t", 1), eventlog.ErrInvalid},
		{"id with a newline", newEvent("s", "a\nb", "t", 1), eventlog.ErrInvalid},
		{"id with trailing space", newEvent("s", "a ", "t", 1), eventlog.ErrInvalid},
		{"id over 1 KiB", newEvent("s", strings.Repeat("a", 1025), "t", 1), eventlog.ErrInvalid},
		{"invalid utf-8 id", newEvent("s", "a\xffb", "t", 1), eventlog.ErrInvalid},
		{"no type", newEvent("s", "1", "", 1), eventlog.ErrInvalid},
		{"type with CR", newEvent("s", "1", "a\rb", 1), eventlog.ErrInvalid},
		{"over max_payload", newEvent("s", "big", "t", 9<<20), eventlog.ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := l.Append(t.Context(), tc.ev)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Append error = %v, want %v", err, tc.want)
			}
		})
	}
	if n := len(countEvents(t, l)); n != 0 {
		t.Fatalf("rejected events wrote %d messages", n)
	}
}

// TestConcurrentDuplicates: many senders append the same ids at once, first while
// JetStream's Nats-Msg-Id window still holds them, then long after it forgot them,
// when only the event's own subject can settle the race.
func TestConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	const window = 200 * time.Millisecond
	// Several append connections, so that the duplicates also race across them.
	l := openLog(t, eventlog.Config{DedupeWindow: window, Connections: 4})
	const goroutines, ids = 16, 8
	race := func(t *testing.T, prefix string) (accepted map[string]int, seqs map[string]map[uint64]bool) {
		accepted, seqs = map[string]int{}, map[string]map[uint64]bool{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := range ids {
					id := fmt.Sprintf("%s_%d", prefix, i)
					res, err := l.Append(t.Context(), newEvent("hasura", id, "hasura.public.orders.insert", 64*(g+1)))
					if err != nil {
						t.Errorf("append: %v", err)
						return
					}
					mu.Lock()
					if !res.Duplicate {
						accepted[id]++
					}
					if seqs[id] == nil {
						seqs[id] = map[uint64]bool{}
					}
					seqs[id][res.Seq] = true
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		return accepted, seqs
	}
	first, firstSeqs := race(t, "evt")
	for i := range ids {
		id := fmt.Sprintf("evt_%d", i)
		if first[id] != 1 {
			t.Errorf("%s accepted %d times, want exactly 1", id, first[id])
		}
		if len(firstSeqs[id]) != 1 {
			t.Errorf("%s answered with sequences %v, want one", id, firstSeqs[id])
		}
	}
	time.Sleep(3 * window) // the window forgets the ids
	again, againSeqs := race(t, "evt")
	for i := range ids {
		id := fmt.Sprintf("evt_%d", i)
		if again[id] != 0 {
			t.Errorf("%s accepted again %d times past the window", id, again[id])
		}
		for seq := range againSeqs[id] {
			if !firstSeqs[id][seq] {
				t.Errorf("%s re-sent past the window answered seq %d, want the original %v", id, seq, firstSeqs[id])
			}
		}
	}
	for id, n := range countEvents(t, l) {
		if n != 1 {
			t.Errorf("%s stored %d times", id, n)
		}
	}
}

// TestDedupeHorizon: a re-sent event is a duplicate long after JetStream's own
// Nats-Msg-Id window has forgotten it, with and without a restart in between.
func TestDedupeHorizon(t *testing.T) {
	t.Parallel()
	const window = time.Second
	dir := t.TempDir()
	cfg := eventlog.Config{DataDir: dir, DedupeWindow: window}
	ctx := t.Context()

	l, err := eventlog.Open(ctx, cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	a := mustAppend(t, l, newEvent("stripe", "evt_a", "stripe.x", 10))
	b := mustAppend(t, l, newEvent("stripe", "evt_b", "stripe.x", 10))
	appended := time.Now()

	// The window alone would not catch this: raw JetStream accepts the same Msg-Id again.
	raw := rawStreamWithWindow(t, l.JetStream(), window)
	publishRaw := func() *jetstream.PubAck {
		ack, err := l.JetStream().PublishMsg(ctx, &nats.Msg{Subject: raw, Header: nats.Header{jetstream.MsgIDHeader: {"stripe/evt_a"}}})
		if err != nil {
			t.Fatal(err)
		}
		return ack
	}
	publishRaw()
	time.Sleep(time.Until(appended.Add(window + 300*time.Millisecond)))
	if ack := publishRaw(); ack.Duplicate {
		t.Fatal("raw publish after the window is a duplicate; the test would prove nothing")
	}

	t.Run("past the window, same process", func(t *testing.T) {
		res := mustAppend(t, l, newEvent("stripe", "evt_a", "stripe.x", 10))
		if !res.Duplicate || res.Seq != a.Seq {
			t.Fatalf("re-sent event = %+v, want duplicate of seq %d", res, a.Seq)
		}
	})
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	l = openLog(t, cfg)
	t.Run("past the window, after a restart", func(t *testing.T) {
		res := mustAppend(t, l, newEvent("stripe", "evt_b", "stripe.x", 10))
		if !res.Duplicate || res.Seq != b.Seq {
			t.Fatalf("re-sent event = %+v, want duplicate of seq %d", res, b.Seq)
		}
	})
	t.Run("a new id is still accepted", func(t *testing.T) {
		if res := mustAppend(t, l, newEvent("stripe", "evt_c", "stripe.x", 10)); res.Duplicate {
			t.Fatal("new id answered duplicate")
		}
	})
}

func rawStreamWithWindow(t *testing.T, js jetstream.JetStream, window time.Duration) string {
	t.Helper()
	name := testPrefix(t) + "RAW"
	_, err := js.CreateStream(t.Context(), jetstream.StreamConfig{
		Name: name, Subjects: []string{name}, Duplicates: window, Storage: jetstream.MemoryStorage,
	})
	if err != nil {
		t.Fatalf("create raw stream: %v", err)
	}
	return name
}

// TestEarlierLayoutRefused: a stream holding events of the layout before one subject
// per event (<root>.<source>) is refused at Open, since their ids would not be
// recognised; an empty stream of the same name is taken over.
func TestEarlierLayoutRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openLog(t, eventlog.Config{DataDir: dir})
	mustAppend(t, l, newEvent("stripe", "evt_new", "stripe.x", 10))
	if _, err := l.JetStream().Publish(t.Context(), eventlog.SubjectRoot+".stripe", []byte("old")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := eventlog.Open(t.Context(), eventlog.Config{DataDir: dir}, testLogger())
	if !errors.Is(err, eventlog.ErrConfig) || !strings.Contains(err.Error(), eventlog.SubjectRoot+".stripe") {
		t.Fatalf("Open over the earlier layout = %v, want ErrConfig naming the subject", err)
	}
}

func TestFullStreamRefusesNewKeepsOld(t *testing.T) {
	t.Parallel()
	l := openLog(t, eventlog.Config{MaxBytes: 64 << 10, MaxBodyBytes: 16 << 10})
	var kept []string
	var fullErr error
	for i := 0; i < 200 && fullErr == nil; i++ {
		id := fmt.Sprintf("evt_%03d", i)
		_, err := l.Append(t.Context(), newEvent("stripe", id, "stripe.x", 2048))
		switch {
		case err == nil:
			kept = append(kept, id)
		case errors.Is(err, eventlog.ErrFull):
			fullErr = err
		default:
			t.Fatalf("append %s: %v", id, err)
		}
	}
	if fullErr == nil {
		t.Fatal("200 events of 2 KiB fitted in 64 KiB")
	}
	if len(kept) == 0 {
		t.Fatal("no event fitted")
	}
	eventually.NoError(t, 10*time.Second, "Ready reports the full log", func() error {
		if err := l.Ready(t.Context()); !errors.Is(err, eventlog.ErrFull) {
			return fmt.Errorf("Ready = %w, want ErrFull", err)
		}
		return nil
	})
	counts := countEvents(t, l)
	if len(counts) != len(kept) {
		t.Fatalf("stream holds %d events, want the %d accepted ones", len(counts), len(kept))
	}
	for _, id := range kept[:1] {
		if _, _, err := l.Get(t.Context(), "stripe", id); err != nil {
			t.Fatalf("oldest event %s lost: %v", id, err)
		}
	}
	// A duplicate of a stored event is still answered: nothing needs writing.
	if res := mustAppend(t, l, newEvent("stripe", kept[0], "stripe.x", 2048)); !res.Duplicate {
		t.Fatal("duplicate of a stored event not recognised on a full log")
	}
}

func TestUnavailableWhenServerGone(t *testing.T) {
	t.Parallel()
	l := openLog(t, eventlog.Config{})
	mustAppend(t, l, newEvent("stripe", "before", "stripe.x", 10))
	l.StopServerForTest()
	eventually.NoError(t, 10*time.Second, "Ready reports the lost server", func() error {
		if err := l.Ready(t.Context()); !errors.Is(err, eventlog.ErrUnavailable) {
			return fmt.Errorf("Ready = %w", err)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := l.Append(ctx, newEvent("stripe", "after", "stripe.x", 10)); !errors.Is(err, eventlog.ErrUnavailable) {
		t.Fatalf("Append with the server gone = %v, want ErrUnavailable", err)
	}
	if _, _, err := l.Get(ctx, "stripe", "before"); !errors.Is(err, eventlog.ErrUnavailable) {
		t.Fatalf("Get with the server gone = %v, want ErrUnavailable", err)
	}
	if _, _, err := l.List(ctx, eventlog.Filter{}); !errors.Is(err, eventlog.ErrUnavailable) {
		t.Fatalf("List with the server gone = %v, want ErrUnavailable", err)
	}
}

func TestClosedLogIsUnavailable(t *testing.T) {
	t.Parallel()
	l := openLog(t, eventlog.Config{})
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := l.Append(t.Context(), newEvent("s", "1", "t", 1)); !errors.Is(err, eventlog.ErrUnavailable) {
		t.Fatalf("Append after Close = %v, want ErrUnavailable", err)
	}
	if err := l.Ready(t.Context()); !errors.Is(err, eventlog.ErrUnavailable) {
		t.Fatalf("Ready after Close = %v, want ErrUnavailable", err)
	}
}

func TestDataDirLockedByOneProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	openLog(t, eventlog.Config{DataDir: dir})
	_, err := eventlog.Open(t.Context(), eventlog.Config{DataDir: dir}, testLogger())
	if !errors.Is(err, eventlog.ErrUnavailable) {
		t.Fatalf("second Open on the same data dir = %v, want ErrUnavailable", err)
	}
}

// TestFaultErrors drives the append path's fault points in-process: a failure before
// the publish leaves nothing behind; a failure after it leaves the event, once.
func TestFaultErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		point   string
		wantDup bool // on retry
	}{
		{eventlog.FaultChecked, false},
		{eventlog.FaultPublished, true},
	}
	for _, tc := range tests {
		t.Run(tc.point, func(t *testing.T) {
			t.Parallel()
			var armed sync.Once
			l := openLog(t, eventlog.Config{Fault: func(point string) error {
				var err error
				if point == tc.point {
					armed.Do(func() { err = boom }) // fail the first time only
				}
				return err
			}})
			ev := newEvent("github", "delivery-1", "github.push", 10)
			if _, err := l.Append(t.Context(), ev); !errors.Is(err, boom) {
				t.Fatalf("first Append = %v, want the injected fault", err)
			}
			res := mustAppend(t, l, ev)
			if res.Duplicate != tc.wantDup {
				t.Fatalf("retry Duplicate = %v, want %v", res.Duplicate, tc.wantDup)
			}
			if n := countEvents(t, l)["github/delivery-1"]; n != 1 {
				t.Fatalf("event stored %d times, want 1", n)
			}
		})
	}
}

func TestGetAndList(t *testing.T) {
	t.Parallel()
	l := openLog(t, eventlog.Config{})
	ctx := t.Context()
	type stored struct {
		ev  *eventv1.Event
		seq uint64
	}
	var all []stored
	add := func(source, id, typ string) {
		ev := newEvent(source, id, typ, 20)
		all = append(all, stored{ev, mustAppend(t, l, ev).Seq})
	}
	add("github", "g1", "github.pull_request.opened")
	add("stripe", "s1", "stripe.payment_intent.succeeded")
	add("github", "g2", "github.push")
	time.Sleep(20 * time.Millisecond)
	mid := time.Now()
	time.Sleep(20 * time.Millisecond)
	add("stripe", "s2", "stripe.customer.subscription.created")
	add("github", "g3", "github.pull_request.closed")
	add("shared", "g1", "shared.thing")

	t.Run("get", func(t *testing.T) {
		tests := []struct {
			source, id string
			want       int // index into all; -1 = not found
		}{
			{"github", "g1", 0},
			{"stripe", "s2", 3},
			{"shared", "g1", 5},
			{"", "s1", 1},
			{"", "g1", 5}, // two sources used g1: the newest wins
			{"github", "nope", -1},
			{"stripe", "g1", -1},
			{"", "nope", -1},
		}
		for _, tc := range tests {
			ev, seq, err := l.Get(ctx, tc.source, tc.id)
			if tc.want < 0 {
				if !errors.Is(err, eventlog.ErrNotFound) {
					t.Errorf("Get(%q,%q) = %v, want ErrNotFound", tc.source, tc.id, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("Get(%q,%q): %v", tc.source, tc.id, err)
				continue
			}
			if want := all[tc.want]; seq != want.seq || !proto.Equal(ev, want.ev) {
				t.Errorf("Get(%q,%q) = seq %d %v, want seq %d %v", tc.source, tc.id, seq, ev, want.seq, want.ev)
			}
		}
	})

	ids := func(evs []*eventv1.Event) string {
		var out []string
		for _, ev := range evs {
			out = append(out, ev.Source+"/"+ev.Id)
		}
		return strings.Join(out, " ")
	}
	t.Run("list", func(t *testing.T) {
		tests := []struct {
			name string
			f    eventlog.Filter
			want string
		}{
			{"all, newest first", eventlog.Filter{}, "shared/g1 github/g3 stripe/s2 github/g2 stripe/s1 github/g1"},
			{"by source", eventlog.Filter{Source: "github"}, "github/g3 github/g2 github/g1"},
			{"glob across dots", eventlog.Filter{TypeGlob: "github.*"}, "github/g3 github/g2 github/g1"},
			{"glob in the middle", eventlog.Filter{TypeGlob: "github.pull_request.*"}, "github/g3 github/g1"},
			{"glob with source", eventlog.Filter{Source: "stripe", TypeGlob: "*subscription*"}, "stripe/s2"},
			{"since", eventlog.Filter{Since: mid}, "shared/g1 github/g3 stripe/s2"},
			{"until", eventlog.Filter{Until: mid}, "github/g2 stripe/s1 github/g1"},
			{"since in the future", eventlog.Filter{Since: time.Now().Add(time.Hour)}, ""},
			{"no match", eventlog.Filter{TypeGlob: "orders.*"}, ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				evs, next, err := l.List(ctx, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				if got := ids(evs); got != tc.want || next != "" {
					t.Fatalf("List = %q (next %q), want %q", got, next, tc.want)
				}
			})
		}
	})
	t.Run("pages", func(t *testing.T) {
		var got []string
		cursor := ""
		for page := 0; ; page++ {
			evs, next, err := l.List(ctx, eventlog.Filter{Limit: 4, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) > 4 {
				t.Fatalf("page of %d events, limit 4", len(evs))
			}
			got = append(got, ids(evs))
			if next == "" {
				break
			}
			if page > 3 {
				t.Fatal("pagination does not end")
			}
			cursor = next
		}
		if all := strings.Join(strings.Fields(strings.Join(got, " ")), " "); all != "shared/g1 github/g3 stripe/s2 github/g2 stripe/s1 github/g1" {
			t.Fatalf("pages = %q", got)
		}
	})
	t.Run("errors", func(t *testing.T) {
		if _, _, err := l.List(ctx, eventlog.Filter{Cursor: "not-a-cursor"}); !errors.Is(err, eventlog.ErrInvalid) {
			t.Errorf("bad cursor: %v, want ErrInvalid", err)
		}
		if _, _, err := l.List(ctx, eventlog.Filter{Source: "a.b"}); !errors.Is(err, eventlog.ErrInvalid) {
			t.Errorf("bad source: %v, want ErrInvalid", err)
		}
		if _, _, err := l.Get(ctx, "stripe", ""); !errors.Is(err, eventlog.ErrInvalid) {
			t.Errorf("empty id: %v, want ErrInvalid", err)
		}
		if _, _, err := l.Get(ctx, "a b", "x"); !errors.Is(err, eventlog.ErrInvalid) {
			t.Errorf("bad source: %v, want ErrInvalid", err)
		}
	})
}

func TestOpenRejectsInvalidConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  eventlog.Config
	}{
		{"replicas 2", eventlog.Config{URL: "nats://127.0.0.1:1", Replicas: 2}},
		{"replicas 3 embedded", eventlog.Config{Replicas: 3}},
		{"negative max bytes", eventlog.Config{MaxBytes: -5}},
		{"max age under the window", eventlog.Config{MaxAge: time.Second}},
		{"payload below a body", eventlog.Config{MaxPayload: 1 << 20, MaxBodyBytes: 1 << 20}},
		{"payload over 64 MiB", eventlog.Config{MaxPayload: 65 << 20}},
		{"unknown sync", eventlog.Config{Sync: "sometimes"}},
		{"sync always on an external server", eventlog.Config{URL: "nats://127.0.0.1:1", Sync: eventlog.SyncAlways}},
		{"tiny window", eventlog.Config{DedupeWindow: time.Millisecond}},
		{"horizon under the window", eventlog.Config{DedupeHorizon: time.Second}},
		{"events kept shorter than the horizon", eventlog.Config{MaxAge: 72 * time.Hour, DedupeHorizon: 96 * time.Hour}},
		{"prefix with a dot", eventlog.Config{StreamPrefix: "a.b"}},
		{"negative connections", eventlog.Config{Connections: -1}},
		{"too many connections", eventlog.Config{Connections: 65}},
		{"negative attempt timeout", eventlog.Config{AttemptTimeout: -time.Second}},
		{"attempt timeout over the timeout", eventlog.Config{Timeout: time.Second, AttemptTimeout: 2 * time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.DataDir = t.TempDir()
			_, err := eventlog.Open(t.Context(), tc.cfg, nil)
			if !errors.Is(err, eventlog.ErrConfig) {
				t.Fatalf("Open = %v, want ErrConfig", err)
			}
		})
	}
}

func TestOpenUnreachableServer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// Port 1 on loopback: nothing listens there.
	_, err := eventlog.Open(ctx, eventlog.Config{URL: "nats://127.0.0.1:1"}, nil)
	if !errors.Is(err, eventlog.ErrUnavailable) {
		t.Fatalf("Open = %v, want ErrUnavailable", err)
	}
}

func TestSyncAlways(t *testing.T) {
	t.Parallel()
	l := openLog(t, eventlog.Config{Sync: eventlog.SyncAlways})
	if res := mustAppend(t, l, newEvent("stripe", "evt_sync", "stripe.x", 100)); res.Duplicate {
		t.Fatal("first append is a duplicate")
	}
	if res := mustAppend(t, l, newEvent("stripe", "evt_sync", "stripe.x", 100)); !res.Duplicate {
		t.Fatal("second append is not a duplicate")
	}
}

// TestGetRightAfterAppend: an acknowledged event is readable at once, by source and
// across sources.
func TestGetRightAfterAppend(t *testing.T) {
	t.Parallel()
	l := openLog(t, eventlog.Config{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				id := fmt.Sprintf("evt_%d_%d", g, i)
				res, err := l.Append(t.Context(), newEvent("stripe", id, "stripe.x", 100))
				if err != nil {
					t.Errorf("append %s: %v", id, err)
					return
				}
				for _, source := range []string{"stripe", ""} {
					if _, seq, err := l.Get(t.Context(), source, id); err != nil || seq != res.Seq {
						t.Errorf("Get(%q, %s) right after append = seq %d, %v; want seq %d", source, id, seq, err, res.Seq)
					}
				}
			}
		}()
	}
	wg.Wait()
}
