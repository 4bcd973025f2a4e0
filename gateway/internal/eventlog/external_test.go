package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	"github.com/hookmesh/hookmesh/platform/eventually"
)

func TestExternalServer(t *testing.T) {
	t.Parallel()
	bin := natsServerBin(t)
	dir := t.TempDir()
	srv := startNATS(t, bin, dir, natsOptions{maxPayload: "8MB"})
	cfg := eventlog.Config{URL: srv.clientURL, StreamPrefix: testPrefix(t), DedupeWindow: time.Second}
	l := openLog(t, cfg)

	t.Run("append and duplicate", func(t *testing.T) {
		first := mustAppend(t, l, newEvent("github", "d-1", "github.push", 100))
		again := mustAppend(t, l, newEvent("github", "d-1", "github.push", 100))
		if first.Duplicate || !again.Duplicate || again.Seq != first.Seq {
			t.Fatalf("first %+v, again %+v", first, again)
		}
		if _, seq, err := l.Get(t.Context(), "github", "d-1"); err != nil || seq != first.Seq {
			t.Fatalf("Get = seq %d, %v", seq, err)
		}
	})

	t.Run("max_payload is checked at start", func(t *testing.T) {
		tests := []struct {
			name    string
			body    int
			wantErr error
		}{
			{"1 MiB bodies fit 8 MB", 1 << 20, nil},
			{"4 MiB bodies do not", 4 << 20, eventlog.ErrConfig},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				c := cfg
				c.StreamPrefix = testPrefix(t)
				c.MaxBodyBytes = tc.body
				l2, err := eventlog.Open(t.Context(), c, testLogger())
				if err == nil {
					_ = l2.Close()
				}
				if !errors.Is(err, tc.wantErr) { // errors.Is(nil, nil) holds
					t.Fatalf("Open = %v, want %v", err, tc.wantErr)
				}
			})
		}
		small := startNATS(t, bin, t.TempDir(), natsOptions{name: "small"}) // default max_payload: 1 MB
		_, err := eventlog.Open(t.Context(), eventlog.Config{URL: small.clientURL}, testLogger())
		if !errors.Is(err, eventlog.ErrConfig) || !strings.Contains(err.Error(), "max_payload") {
			t.Fatalf("Open on a 1 MB max_payload server = %v, want ErrConfig naming max_payload", err)
		}
	})

	t.Run("a stream the server will not change is a config error", func(t *testing.T) {
		prefix := testPrefix(t)
		_, err := l.JetStream().CreateStream(t.Context(), jetstream.StreamConfig{
			Name: prefix + eventlog.StreamName, Subjects: []string{prefix + eventlog.SubjectRoot + ".>"},
			Storage: jetstream.MemoryStorage,
		})
		if err != nil {
			t.Fatal(err)
		}
		c := cfg
		c.StreamPrefix = prefix
		_, err = eventlog.Open(t.Context(), c, testLogger())
		if !errors.Is(err, eventlog.ErrConfig) {
			t.Fatalf("Open over a memory stream = %v, want ErrConfig", err)
		}
		c.StreamPrefix = testPrefix(t)
		c.Replicas = 3
		_, err = eventlog.Open(t.Context(), c, testLogger())
		if !errors.Is(err, eventlog.ErrConfig) {
			t.Fatalf("Open with replicas 3 on one server = %v, want ErrConfig", err)
		}
	})

	t.Run("server gone, then back", func(t *testing.T) {
		port := srv.port(t)
		srv.kill()
		eventually.NoError(t, 10*time.Second, "Ready reports the lost server", func() error {
			if err := l.Ready(t.Context()); !errors.Is(err, eventlog.ErrUnavailable) {
				return fmt.Errorf("Ready = %w", err)
			}
			return nil
		})
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if _, err := l.Append(ctx, newEvent("github", "d-2", "github.push", 10)); !errors.Is(err, eventlog.ErrUnavailable) {
			t.Fatalf("Append with the server gone = %v, want ErrUnavailable", err)
		}

		// Same store, same port: the log reconnects and still knows d-1.
		back := startNATS(t, bin, dir, natsOptions{maxPayload: "8MB", port: port})
		_ = back
		waitCtx, cancel2 := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel2()
		if err := l.WaitReady(waitCtx); err != nil {
			t.Fatal(err)
		}
		if res := mustAppend(t, l, newEvent("github", "d-1", "github.push", 100)); !res.Duplicate {
			t.Fatal("d-1 not a duplicate after the server came back")
		}
		if res := mustAppend(t, l, newEvent("github", "d-2", "github.push", 10)); res.Duplicate {
			t.Fatal("d-2, refused while the server was gone, answered duplicate")
		}
	})
}

// TestClusterLosesNoAcknowledgedEvent ingests into a 3-node cluster with replicas 3
// and kills the event stream's leader midway: every acknowledged event is in the log
// exactly once, and re-sending it answers Duplicate.
func TestClusterLosesNoAcknowledgedEvent(t *testing.T) {
	t.Parallel()
	bin := natsServerBin(t)
	nodes := startCluster(t, bin)
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.clientURL)
	}
	cfg := eventlog.Config{
		URL: strings.Join(urls, ","), Replicas: 3, StreamPrefix: testPrefix(t),
		StartTimeout: 30 * time.Second, DedupeWindow: 10 * time.Second,
	}
	l := openLog(t, cfg)
	ctx := t.Context()

	var (
		mu       sync.Mutex
		acked    = map[string]uint64{}
		next     atomic.Int64
		stop     = make(chan struct{})
		killed   = make(chan struct{})
		unavail  atomic.Int64
		dupFirst atomic.Int64
		failures = make(chan error, 16)
	)
	// Senders retry 503s as Stripe or Hasura would, with the same id.
	send := func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprintf("evt_%05d", next.Add(1))
			deadline := time.Now().Add(40 * time.Second)
			for {
				actx, cancel := context.WithTimeout(ctx, 5*time.Second)
				res, err := l.Append(actx, newEvent("stripe", id, "stripe.charge.succeeded", 512))
				cancel()
				if err == nil {
					mu.Lock()
					acked[id] = res.Seq
					mu.Unlock()
					if res.Duplicate {
						dupFirst.Add(1) // an earlier request answered 503 had been stored
					}
					break
				}
				if !errors.Is(err, eventlog.ErrUnavailable) || time.Now().After(deadline) {
					failures <- fmt.Errorf("append %s: %w", id, err)
					return
				}
				unavail.Add(1)
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); send() }()
	}
	ackedCount := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	eventually.NoError(t, 20*time.Second, "ingest before the kill", func() error {
		if n := ackedCount(); n < 200 {
			return fmt.Errorf("%d acknowledged", n)
		}
		return nil
	})
	info, err := l.JetStream().Stream(ctx, l.Stream())
	if err != nil {
		t.Fatal(err)
	}
	leader := info.CachedInfo().Cluster.Leader
	var victim *natsProc
	for _, n := range nodes {
		if n.name == leader {
			victim = n
		}
	}
	if victim == nil {
		t.Fatalf("stream leader %q is not one of the nodes", leader)
	}
	before := ackedCount()
	victim.kill()
	killedAt := time.Now()
	close(killed)
	t.Logf("killed stream leader %s after %d acknowledged events", leader, before)
	notReady := make(chan time.Duration, 1)
	go func() { // when /readyz would have turned 503 (logged: the election's length varies)
		defer close(notReady)
		for time.Since(killedAt) < 20*time.Second {
			if err := l.Ready(ctx); err != nil {
				notReady <- time.Since(killedAt)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	eventually.NoError(t, 30*time.Second, "ingest after the kill", func() error {
		if n := ackedCount(); n < before+200 {
			return fmt.Errorf("%d acknowledged, %d before the kill", n, before)
		}
		return nil
	})
	close(stop)
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Error(err)
	}
	t.Logf("%d events acknowledged; %d appends refused as unavailable and retried; %d first answers were duplicates",
		ackedCount(), unavail.Load(), dupFirst.Load())
	if d, ok := <-notReady; ok {
		t.Logf("Ready turned unavailable %s after the kill", d.Round(time.Millisecond))
	}
	eventually.NoError(t, 20*time.Second, "Ready after the election", func() error { return l.Ready(ctx) })

	// Read back with one node still down: List for exactly-once, Get (leader reads)
	// for each acknowledged event.
	counts := map[string]int{}
	cursor := ""
	for {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		evs, next, err := l.List(lctx, eventlog.Filter{Limit: eventlog.MaxListLimit, Cursor: cursor})
		cancel()
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		for _, ev := range evs {
			counts[ev.Id]++
		}
		if next == "" {
			break
		}
		cursor = next
	}
	for id, n := range counts {
		if n != 1 {
			t.Errorf("%s is in the log %d times, want 1 (retried appends store once)", id, n)
		}
	}
	for id, seq := range acked {
		if n := counts[id]; n != 1 {
			t.Errorf("acknowledged %s (seq %d) is in the log %d times, want 1", id, seq, n)
		}
		eventually.NoError(t, 20*time.Second, "get "+id, func() error {
			gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_, got, err := l.Get(gctx, "stripe", id)
			if errors.Is(err, eventlog.ErrUnavailable) {
				return err // the cluster may still be moving leaders
			}
			if err != nil || got != seq {
				t.Fatalf("Get %s = seq %d, %v; want seq %d", id, got, err, seq)
			}
			return nil
		})
	}
	checked := 0
	for id, seq := range acked {
		if checked == 50 {
			break
		}
		checked++
		res := mustAppend(t, l, newEvent("stripe", id, "stripe.charge.succeeded", 512))
		if !res.Duplicate || res.Seq != seq {
			t.Errorf("re-sent %s = %+v, want duplicate of seq %d", id, res, seq)
		}
	}
}

// TestClusterReadiness: Ready follows the log's ability to store an event, not just
// the connection. With replicas 1, losing the only replica's node leaves the log
// connected to the other nodes but unable to store: Ready and appends answer
// ErrUnavailable until the node is back. With replicas 3, losing the stream's leader
// and a follower leaves no quorum to elect a successor: the same, until a node returns.
func TestClusterReadiness(t *testing.T) {
	t.Parallel()
	bin := natsServerBin(t)
	nodes := startCluster(t, bin)
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.clientURL)
	}
	cfg := eventlog.Config{URL: strings.Join(urls, ","), StartTimeout: 30 * time.Second}
	ctx := t.Context()

	lost := func(t *testing.T, l *eventlog.Log) {
		t.Helper()
		// Connected (perhaps again, to a surviving node) and still not ready: the
		// connection alone no longer answers /readyz.
		eventually.NoError(t, 15*time.Second, "Ready reports the log cannot store", func() error {
			if !l.Conn().IsConnected() {
				return errors.New("not connected to a surviving node yet")
			}
			if err := l.Ready(ctx); !errors.Is(err, eventlog.ErrUnavailable) {
				return fmt.Errorf("Ready = %w, want ErrUnavailable", err)
			}
			return nil
		})
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := l.Append(actx, newEvent("github", "while-down", "github.push", 10)); !errors.Is(err, eventlog.ErrUnavailable) {
			t.Fatalf("Append while the log cannot store = %v, want ErrUnavailable", err)
		}
	}
	back := func(t *testing.T, l *eventlog.Log) {
		t.Helper()
		eventually.NoError(t, 30*time.Second, "Ready once the log stores again", func() error { return l.Ready(ctx) })
		if res := mustAppend(t, l, newEvent("github", "while-down", "github.push", 10)); res.Duplicate {
			t.Error("the event refused while down answered duplicate")
		}
		if res := mustAppend(t, l, newEvent("github", "before", "github.push", 10)); !res.Duplicate {
			t.Error("the event stored before the loss is not known")
		}
	}

	t.Run("replicas 1: the replica's node lost, then back", func(t *testing.T) {
		c := cfg
		c.Replicas, c.StreamPrefix = 1, testPrefix(t)
		l := openLog(t, c)
		mustAppend(t, l, newEvent("github", "before", "github.push", 10))
		node := streamLeader(t, l, nodes)
		node.kill()
		lost(t, l)
		node.start(t, bin)
		back(t, l)
	})

	t.Run("replicas 3: the leader and a follower lost, then the leader back", func(t *testing.T) {
		c := cfg
		c.Replicas, c.StreamPrefix = 3, testPrefix(t)
		l := openLog(t, c)
		mustAppend(t, l, newEvent("github", "before", "github.push", 10))
		leader := streamLeader(t, l, nodes)
		leader.kill()
		for _, n := range nodes {
			if n != leader {
				n.kill()
				break
			}
		}
		lost(t, l)
		leader.start(t, bin)
		back(t, l)
	})
}
