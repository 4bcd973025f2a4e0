package eventlog_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
)

// TestRetryTellsOwnAttemptFromDuplicate: a retried append that finds its subject
// written is accepted only when the stored event is the one this append sent.
func TestRetryTellsOwnAttemptFromDuplicate(t *testing.T) {
	t.Parallel()
	l := openLog(t, eventlog.Config{})
	ctx := t.Context()

	t.Run("earlier attempt stored, answer lost: accepted, stored once", func(t *testing.T) {
		ev := newEvent("stripe", "lost-ack", "stripe.charge.succeeded", 100)
		res, err := l.RetryAppendForTest(ctx, ev, true)
		if err != nil || res.Duplicate || res.Seq == 0 {
			t.Fatalf("retry after a landed attempt = %+v, %v; want accepted", res, err)
		}
		if _, seq, err := l.Get(ctx, "stripe", "lost-ack"); err != nil || seq != res.Seq {
			t.Fatalf("Get = seq %d, %v; want %d", seq, err, res.Seq)
		}
		if again := mustAppend(t, l, ev); !again.Duplicate || again.Seq != res.Seq {
			t.Fatalf("re-sent = %+v, want duplicate of %d", again, res.Seq)
		}
	})

	t.Run("another sender's copy stored: duplicate", func(t *testing.T) {
		first := newEvent("stripe", "concurrent", "stripe.charge.succeeded", 100)
		stored := mustAppend(t, l, first)
		other := newEvent("stripe", "concurrent", "stripe.charge.succeeded", 100)
		other.ReceivedTime = timestamppb.New(first.ReceivedTime.AsTime().Add(time.Millisecond))
		res, err := l.RetryAppendForTest(ctx, other, false)
		if err != nil || !res.Duplicate || res.Seq != stored.Seq {
			t.Fatalf("retry over another sender's event = %+v, %v; want duplicate of %d", res, err, stored.Seq)
		}
	})

	t.Run("nothing stored before: accepted", func(t *testing.T) {
		res, err := l.RetryAppendForTest(ctx, newEvent("stripe", "fresh", "stripe.charge.succeeded", 100), false)
		if err != nil || res.Duplicate {
			t.Fatalf("retry of an unstored event = %+v, %v; want accepted", res, err)
		}
	})

	counts := countEvents(t, l)
	for _, id := range []string{"stripe/lost-ack", "stripe/concurrent", "stripe/fresh"} {
		if counts[id] != 1 {
			t.Errorf("%s stored %d times, want 1", id, counts[id])
		}
	}
}

// TestReadyProbesAtMostOncePerInterval: /readyz may be asked often; the log asks the
// server at most once per probe interval, and not at all while appends succeed.
func TestReadyProbesAtMostOncePerInterval(t *testing.T) {
	t.Parallel()
	l := openLog(t, eventlog.Config{})
	ctx := t.Context()
	apiRequests := func() uint64 {
		t.Helper()
		info, err := l.JetStream().AccountInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.API.Total
	}
	// Each interval begun may add one probe (a stalled machine may stretch the loop).
	measure := func(name string, within time.Duration, first uint64) {
		t.Helper()
		start := time.Now()
		before := apiRequests()
		for time.Since(start) < within {
			if err := l.Ready(ctx); err != nil {
				t.Fatalf("%s: Ready = %v", name, err)
			}
		}
		most := first + uint64(time.Since(start)/time.Second)
		// The second AccountInfo counts itself.
		if got := apiRequests() - before - 1; got > most {
			t.Errorf("%s: %d JetStream API requests while asking Ready for %s, want at most %d", name, got, within, most)
		}
	}
	time.Sleep(1100 * time.Millisecond) // let the probe of openLog's WaitReady expire
	measure("idle", 500*time.Millisecond, 1)
	mustAppend(t, l, newEvent("stripe", "ready-1", "stripe.x", 10))
	measure("after an append", 200*time.Millisecond, 0)
}
