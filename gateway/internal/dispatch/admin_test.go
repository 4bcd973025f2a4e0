package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	"github.com/hookmesh/hookmesh/platform/eventually"
)

// rejecting answers INVALID_ARGUMENT to events whose id starts with "bad".
func rejecting() *testConsumer {
	c := &testConsumer{fx: newEffects()}
	c.behave = func(_ context.Context, req *consumerv1.DeliverRequest) error {
		if strings.HasPrefix(req.GetEvent().GetId(), "bad") {
			return status.Error(codes.InvalidArgument, "no such user")
		}
		return nil
	}
	return c
}

func TestDeadLetterListResolvePurge(t *testing.T) {
	e := newEnv(t)
	c := rejecting()
	addr, _ := serve(t, c, "127.0.0.1:0")
	d := e.start(e.config(sub("a", addr, "users.*", "orders.*"), sub("b", addr, "users.*")))

	for i := range 3 {
		e.append(event(fmt.Sprintf("bad-u%d", i), "users.created"))
	}
	e.append(event("bad-o1", "orders.created"))
	eventually.True(t, 20*time.Second, "seven dead letters", func() bool {
		r, _, err := d.ListDeadLetters(ctxT(t), DeadLetterQuery{})
		return err == nil && len(r) == 7
	})

	list := func(t *testing.T, req DeadLetterQuery) []*adminv1.DeadLetter {
		t.Helper()
		r, _, err := d.ListDeadLetters(ctxT(t), req)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		return r
	}
	t.Run("filters", func(t *testing.T) {
		tests := []struct {
			name string
			req  DeadLetterQuery
			want int
		}{
			{"all", DeadLetterQuery{}, 7},
			{"subscription", DeadLetterQuery{Subscription: "b"}, 3},
			{"type glob", DeadLetterQuery{Type: "orders.*"}, 1},
			{"source", DeadLetterQuery{Source: "other"}, 0},
			{"since future", DeadLetterQuery{Since: time.Now().Add(time.Hour)}, 0},
			{"until past", DeadLetterQuery{Until: time.Now().Add(-time.Hour)}, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if got := len(list(t, tt.req)); got != tt.want {
					t.Fatalf("got %d, want %d", got, tt.want)
				}
			})
		}
	})
	t.Run("pages newest first", func(t *testing.T) {
		var all []*adminv1.DeadLetter
		token := ""
		for range 10 {
			r, next, err := d.ListDeadLetters(ctxT(t), DeadLetterQuery{PageSize: 3, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, r...)
			if token = next; token == "" {
				break
			}
		}
		if len(all) != 7 {
			t.Fatalf("paged %d dead letters, want 7", len(all))
		}
		seen := map[string]bool{}
		for i, dl := range all {
			if seen[dl.GetId()] {
				t.Fatalf("dead letter %s listed twice", dl.GetId())
			}
			seen[dl.GetId()] = true
			if i > 0 && dl.GetCreateTime().AsTime().After(all[i-1].GetCreateTime().AsTime()) {
				t.Fatal("not newest first")
			}
			if dl.GetReason() != "terminal: INVALID_ARGUMENT" || len(dl.GetAttempts()) != 1 || dl.GetAttempts()[0].GetMessage() != "no such user" {
				t.Fatalf("dead letter = %v", dl)
			}
		}
	})
	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			name string
			call func() error
			want error
		}{
			{"bad token", func() error {
				_, _, err := d.ListDeadLetters(ctxT(t), DeadLetterQuery{PageToken: "!!"})
				return err
			}, ErrInvalid},
			{"negative page size", func() error {
				_, _, err := d.ListDeadLetters(ctxT(t), DeadLetterQuery{PageSize: -1})
				return err
			}, ErrInvalid},
			{"bad subscription", func() error {
				_, _, err := d.ListDeadLetters(ctxT(t), DeadLetterQuery{Subscription: "a.b"})
				return err
			}, ErrInvalid},
			{"resolve bad id", func() error {
				_, err := d.ResolveDeadLetter(ctxT(t), "x")
				return err
			}, ErrInvalid},
			{"resolve unknown", func() error {
				_, err := d.ResolveDeadLetter(ctxT(t), strings.Repeat("0", 24))
				return err
			}, ErrNotFound},
			{"purge bad subscription", func() error {
				_, err := d.PurgeDeadLetters(ctxT(t), PurgeQuery{Subscription: "*"})
				return err
			}, ErrInvalid},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if got := tt.call(); !errors.Is(got, tt.want) {
					t.Fatalf("error = %v, want %v", got, tt.want)
				}
			})
		}
	})
	t.Run("resolve and purge", func(t *testing.T) {
		target := list(t, DeadLetterQuery{Subscription: "a", Type: "orders.*"})[0]
		r, err := d.ResolveDeadLetter(ctxT(t), target.GetId())
		if err != nil {
			t.Fatal(err)
		}
		if r.GetResolution() != "resolved" || r.GetResolveTime() == nil {
			t.Fatalf("resolved = %v", r)
		}
		again, err := d.ResolveDeadLetter(ctxT(t), target.GetId())
		if err != nil || again.GetResolution() != "resolved" {
			t.Fatalf("resolve twice = %v, %v", again, err)
		}
		if n := len(list(t, DeadLetterQuery{})); n != 6 {
			t.Fatalf("open = %d, want 6", n)
		}
		if n := len(list(t, DeadLetterQuery{IncludeResolved: true})); n != 7 {
			t.Fatalf("all = %d, want 7", n)
		}
		subs, err := d.ListSubscriptions(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if a := subs[0]; a.GetDeadLetters() != 3 {
			t.Fatalf("subscription a open dead letters = %d, want 3", a.GetDeadLetters())
		}
		// Without include_open only the resolved one goes.
		p, err := d.PurgeDeadLetters(ctxT(t), PurgeQuery{})
		if err != nil || p != 1 {
			t.Fatalf("purge resolved = %v, %v", p, err)
		}
		// before in the past matches nothing.
		p, err = d.PurgeDeadLetters(ctxT(t), PurgeQuery{IncludeOpen: true, Before: time.Now().Add(-time.Hour)})
		if err != nil || p != 0 {
			t.Fatalf("purge old = %v, %v", p, err)
		}
		p, err = d.PurgeDeadLetters(ctxT(t), PurgeQuery{Subscription: "b", IncludeOpen: true})
		if err != nil || p != 3 {
			t.Fatalf("purge b = %v, %v", p, err)
		}
		if n := len(list(t, DeadLetterQuery{IncludeResolved: true})); n != 3 {
			t.Fatalf("left = %d, want 3", n)
		}
	})
}

func TestBulkReplay(t *testing.T) {
	e := newEnv(t)
	c := rejecting()
	addr, _ := serve(t, c, "127.0.0.1:0")
	s1, s2 := sub("a", addr, "users.*"), sub("b", addr, "orders.*")
	d := e.start(e.config(s1, s2))
	other := e.start(e.config(s1, s2)) // a second gateway reports the same jobs

	since := time.Now().Add(-time.Second)
	for i := range 6 {
		e.append(event(fmt.Sprintf("u%d", i), "users.created"))
	}
	e.append(event("bad-1", "users.created"))
	e.append(event("o1", "orders.created"))
	eventually.True(t, 20*time.Second, "first deliveries", func() bool { return c.fx.total() == 7 })

	t.Run("dry run counts", func(t *testing.T) {
		tests := []struct {
			name string
			req  *adminv1.CreateReplayRequest
			want int64
		}{
			{"everything", &adminv1.CreateReplayRequest{Since: timestamppb.New(since)}, 8},
			{"one subscription", &adminv1.CreateReplayRequest{Since: timestamppb.New(since), Subscription: "b"}, 1},
			{"type", &adminv1.CreateReplayRequest{Since: timestamppb.New(since), Type: "users.*"}, 7},
			{"this source", &adminv1.CreateReplayRequest{Since: timestamppb.New(since), Source: "test"}, 8},
			{"other source", &adminv1.CreateReplayRequest{Since: timestamppb.New(since), Source: "nope"}, 0},
			{"dead letters only", &adminv1.CreateReplayRequest{Since: timestamppb.New(since), DeadLettersOnly: true}, 1},
			{"range before", &adminv1.CreateReplayRequest{Since: timestamppb.New(since.Add(-time.Hour)), Until: timestamppb.New(since)}, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tt.req.DryRun = true
				r, err := d.CreateReplay(ctxT(t), tt.req)
				if err != nil {
					t.Fatal(err)
				}
				if r.GetState() != adminv1.ReplayState_REPLAY_STATE_DRY_RUN || r.GetMatched() != tt.want {
					t.Fatalf("replay = %v, want dry run matching %d", r, tt.want)
				}
				if c.numCalls() != 9 && c.numCalls() != 8 {
					// 7 good + 1 rejected (+ nothing from dry runs)
					t.Fatalf("dry run delivered something: %d calls", c.numCalls())
				}
			})
		}
	})
	t.Run("job replays at its rate and reports progress", func(t *testing.T) {
		r, err := d.CreateReplay(ctxT(t), &adminv1.CreateReplayRequest{Since: timestamppb.New(since), Type: "users.*", RatePerSecond: 50})
		if err != nil {
			t.Fatal(err)
		}
		id := r.GetId()
		var job *adminv1.Replay
		eventually.True(t, 20*time.Second, "the job to finish", func() bool {
			g, err := other.GetReplay(ctxT(t), id)
			if err != nil {
				t.Fatal(err)
			}
			job = g
			return job.GetState() == adminv1.ReplayState_REPLAY_STATE_DONE
		})
		if job.GetMatched() != 7 || job.GetQueued() != 7 || job.GetFinishTime() == nil || job.GetRequest().GetRatePerSecond() != 50 {
			t.Fatalf("job = %v", job)
		}
		eventually.True(t, 20*time.Second, "replayed deliveries", func() bool {
			n := 0
			for i := range 6 {
				for _, cl := range c.callsFor(fmt.Sprintf("u%d", i)) {
					if cl.req.GetReplay() {
						n++
					}
				}
			}
			return n == 6
		})
		// Still one effect each.
		for i := range 6 {
			if n := c.fx.count("test", fmt.Sprintf("u%d", i)); n != 1 {
				t.Fatalf("u%d applied %d times", i, n)
			}
		}
	})
	t.Run("dead letters only closes them as replayed", func(t *testing.T) {
		// bad-1's replay from the job above dies again first.
		eventually.True(t, 20*time.Second, "the replayed bad event to die again", func() bool {
			l, _, _ := d.ListDeadLetters(ctxT(t), DeadLetterQuery{})
			return len(l) == 1
		})
		r, err := d.CreateReplay(ctxT(t), &adminv1.CreateReplayRequest{Since: timestamppb.New(since), DeadLettersOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		eventually.True(t, 20*time.Second, "the job to finish", func() bool {
			g, _ := d.GetReplay(ctxT(t), r.GetId())
			return g.GetState() == adminv1.ReplayState_REPLAY_STATE_DONE && g.GetQueued() == 1
		})
		// bad-1 died, was replayed by the job above (closing its dead letter) and
		// died again, was replayed from the dead letter and died a third time.
		eventually.True(t, 20*time.Second, "the replayed dead letter to die again", func() bool {
			l, _, _ := d.ListDeadLetters(ctxT(t), DeadLetterQuery{IncludeResolved: true})
			replayed := 0
			for _, dl := range l {
				if dl.GetResolution() == "replayed" {
					replayed++
				}
			}
			if len(l) == 3 && replayed == 2 {
				return true
			}
			for _, dl := range l {
				t.Logf("dead letter %s %s %q", dl.GetId(), dl.GetEvent().GetId(), dl.GetResolution())
			}
			return false
		})
	})
	t.Run("errors", func(t *testing.T) {
		now := timestamppb.Now()
		tests := []struct {
			name string
			req  *adminv1.CreateReplayRequest
			want error
		}{
			{"since required", &adminv1.CreateReplayRequest{}, ErrInvalid},
			{"until before since", &adminv1.CreateReplayRequest{Since: now, Until: timestamppb.New(now.AsTime().Add(-time.Second))}, ErrInvalid},
			{"unknown subscription", &adminv1.CreateReplayRequest{Since: now, Subscription: "zzz"}, ErrNotFound},
			{"bad source", &adminv1.CreateReplayRequest{Since: now, Source: "a.b"}, ErrInvalid},
			{"negative rate", &adminv1.CreateReplayRequest{Since: now, RatePerSecond: -1}, ErrInvalid},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := d.CreateReplay(ctxT(t), tt.req); !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
			})
		}
		if _, err := d.GetReplay(ctxT(t), "nope"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("get bad id: %v", err)
		}
		if _, err := d.GetReplay(ctxT(t), "01890a5d-ac96-774b-bcce-b302099a8057"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("get unknown: %v", err)
		}
	})
}

func TestReplayEventErrors(t *testing.T) {
	e := newEnv(t)
	c := &testConsumer{fx: newEffects()}
	addr, _ := serve(t, c, "127.0.0.1:0")
	d := e.start(e.config(sub("a", addr, "x.*")))
	ev1, ev2 := event("same", "x.y"), event("same", "x.y")
	ev2.Source = "other"
	e.append(ev1)
	e.append(ev2)
	waitState(t, d, ev1, "a", adminv1.DeliveryState_DELIVERY_STATE_DELIVERED)
	waitState(t, d, ev2, "a", adminv1.DeliveryState_DELIVERY_STATE_DELIVERED)
	tests := []struct {
		name string
		req  *adminv1.ReplayEventRequest
		want error
	}{
		{"id required", &adminv1.ReplayEventRequest{}, ErrInvalid},
		{"unknown subscription", &adminv1.ReplayEventRequest{Id: "same", Source: "test", Subscriptions: []string{"zz"}}, ErrNotFound},
		{"ambiguous id", &adminv1.ReplayEventRequest{Id: "same"}, ErrConflict},
		{"unknown id", &adminv1.ReplayEventRequest{Id: "never"}, ErrNotFound},
		{"unknown id with source", &adminv1.ReplayEventRequest{Id: "never", Source: "test"}, ErrNotFound},
		{"ok with source", &adminv1.ReplayEventRequest{Id: "same", Source: "other"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := d.ReplayEvent(ctxT(t), tt.req.GetSource(), tt.req.GetId(), tt.req.GetSubscriptions()); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestReplayJobTakeover: a job whose gateway stopped beating is resumed by
// another gateway after its cursor.
func TestReplayJobTakeover(t *testing.T) {
	e := newEnv(t)
	c := &testConsumer{fx: newEffects()}
	addr, _ := serve(t, c, "127.0.0.1:0")
	cfg := e.config(sub("a", addr, "j.*"))
	cfg.JobLease = 200 * time.Millisecond
	d := e.start(cfg)
	since := time.Now().Add(-time.Second)
	var seqs []uint64
	for i := range 4 {
		seqs = append(seqs, e.append(event(fmt.Sprintf("j%d", i), "j.x")))
	}
	eventually.True(t, 20*time.Second, "first deliveries", func() bool { return c.fx.total() == 4 })

	// A job left behind by a dead gateway: counted, two events queued.
	rep := &adminv1.Replay{
		Id:         "01890a5d-ac96-774b-bcce-b302099a8057",
		Request:    &adminv1.CreateReplayRequest{Since: timestamppb.New(since), Until: timestamppb.Now(), RatePerSecond: 100},
		State:      adminv1.ReplayState_REPLAY_STATE_RUNNING,
		Matched:    4,
		Queued:     2,
		CreateTime: timestamppb.Now(),
	}
	jr := &jobRecord{Owner: "dead", Heartbeat: time.Now().Add(-time.Hour), Cursor: seqs[1], Counted: true, Limit: seqs[3]}
	if err := jr.setReplay(rep); err != nil {
		t.Fatal(err)
	}
	if _, err := d.putJob(ctxT(t), rep.GetId(), jr, 0); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 20*time.Second, "the job taken over and finished", func() bool {
		g, err := d.GetReplay(ctxT(t), rep.GetId())
		return err == nil && g.GetState() == adminv1.ReplayState_REPLAY_STATE_DONE && g.GetQueued() == 4
	})
	eventually.True(t, 20*time.Second, "the two remaining replays", func() bool {
		return len(c.callsFor("j2")) == 2 && len(c.callsFor("j3")) == 2
	})
	if len(c.callsFor("j0")) != 1 || len(c.callsFor("j1")) != 1 {
		t.Fatal("events before the cursor were replayed again")
	}
}

// TestBulkReplaySkipsUndecodable: a message in the event stream that is not an
// event is left out of a job, with a log line and a count (once per job).
func TestBulkReplaySkipsUndecodable(t *testing.T) {
	e := newEnv(t)
	c := &testConsumer{fx: newEffects()}
	addr, _ := serve(t, c, "127.0.0.1:0")
	d := e.start(e.config(sub("a", addr, "u.*")))
	since := time.Now().Add(-time.Second)
	e.append(event("u1", "u.x"))
	if _, err := e.js.Publish(ctxT(t), e.log.EventSubject("test", "garbage"), []byte{0xff, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	rep, err := d.CreateReplay(ctxT(t), &adminv1.CreateReplayRequest{Since: timestamppb.New(since), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.GetMatched() != 1 {
		t.Fatalf("matched = %d, want the one event", rep.GetMatched())
	}
	if n := testutil.ToFloat64(d.m.replaySkipped.WithLabelValues(skipUndecodable)); n != 1 {
		t.Fatalf("skipped undecodable = %v, want 1", n)
	}
}
