package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	"github.com/hookmesh/hookmesh/platform/eventually"
)

// BenchmarkFailoverGap measures the longest stretch without an acknowledged append
// when the event stream's leader is lost in a 3-node cluster with replicas 3, under
// 8 senders that retry a refused event after 50 ms with the same id (as a webhook
// sender would, only faster). Each case runs on a new cluster: the leader SIGKILLed
// (a crash: the followers elect a successor after nats-server's election timeout)
// or SIGTERMed (a clean shutdown hands its leaders over first); "one-attempt" is one
// publish per append waiting the whole 5 s budget (AttemptTimeout = Timeout, the
// behaviour before retries), "retry" the default AttemptTimeout.
//
//	go test -run '^$' -bench BenchmarkFailoverGap -benchtime 1x ./internal/eventlog/
//
// Metrics: gap-s (longest stretch without a 2xx from just before the loss, mean of
// the runs; max-gap-s the worst run),
// first-ok-s (loss to the first 2xx after it), refused (appends answered 503).
func BenchmarkFailoverGap(b *testing.B) {
	bin := natsServerBin(b)
	losses := []struct {
		name string
		sig  syscall.Signal
	}{{"sigkill", syscall.SIGKILL}, {"sigterm", syscall.SIGTERM}}
	modes := []struct {
		name    string
		attempt time.Duration
	}{{"one-attempt", eventlog.DefaultTimeout}, {"retry", 0}}
	for _, loss := range losses {
		for _, mode := range modes {
			b.Run(loss.name+"/"+mode.name, func(b *testing.B) {
				var gap, maxGap, first, refused float64
				for range b.N {
					r := failover(b, bin, loss.sig, mode.attempt)
					b.Logf("gap %.2fs, first 2xx %.2fs after the loss, %d refused", r.gap.Seconds(), r.firstOK.Seconds(), r.refused)
					gap += r.gap.Seconds()
					maxGap = max(maxGap, r.gap.Seconds())
					first += r.firstOK.Seconds()
					refused += float64(r.refused)
				}
				n := float64(b.N)
				b.ReportMetric(gap/n, "gap-s")
				b.ReportMetric(maxGap, "max-gap-s")
				b.ReportMetric(first/n, "first-ok-s")
				b.ReportMetric(refused/n, "refused")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

type failoverResult struct {
	gap, firstOK time.Duration
	refused      int64
}

func failover(b *testing.B, bin string, sig syscall.Signal, attempt time.Duration) failoverResult {
	b.Helper()
	nodes := startCluster(b, bin)
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.clientURL)
	}
	l := openLog(b, eventlog.Config{
		URL: strings.Join(urls, ","), Replicas: 3, StreamPrefix: testPrefix(b),
		StartTimeout: 30 * time.Second, AttemptTimeout: attempt,
	})
	var (
		mu      sync.Mutex
		oks     []time.Time
		next    atomic.Int64
		refused atomic.Int64
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				id := fmt.Sprintf("evt_%06d", next.Add(1))
				for {
					select {
					case <-stop:
						return
					default:
					}
					ctx, cancel := context.WithTimeout(b.Context(), eventlog.DefaultTimeout)
					_, err := l.Append(ctx, newEvent("stripe", id, "stripe.charge.succeeded", 512))
					cancel()
					if err == nil {
						mu.Lock()
						oks = append(oks, time.Now())
						mu.Unlock()
						break
					}
					if !errors.Is(err, eventlog.ErrUnavailable) {
						b.Errorf("append %s: %v", id, err)
						return
					}
					refused.Add(1)
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(oks) }
	eventually.NoError(b, 30*time.Second, "ingest before the loss", func() error {
		if n := count(); n < 500 {
			return fmt.Errorf("%d acknowledged", n)
		}
		return nil
	})
	victim := streamLeader(b, l, nodes)
	before := count()
	refusedBefore := refused.Load()
	lost := time.Now()
	victim.stop(sig)
	eventually.NoError(b, 60*time.Second, "ingest after the loss", func() error {
		if n := count(); n < before+500 || time.Since(lost) < 3*time.Second {
			return fmt.Errorf("%d acknowledged, %d before the loss", n, before)
		}
		return nil
	})
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	var r failoverResult
	r.refused = refused.Load() - refusedBefore
	prev := time.Time{}
	for _, t := range oks {
		if t.Before(lost.Add(-500 * time.Millisecond)) {
			prev = t
			continue
		}
		if !prev.IsZero() {
			r.gap = max(r.gap, t.Sub(prev))
		}
		if r.firstOK == 0 && t.After(lost) {
			r.firstOK = t.Sub(lost)
		}
		prev = t
	}
	return r
}

// streamLeader returns the node leading the log's stream.
func streamLeader(tb testing.TB, l *eventlog.Log, nodes []*natsProc) *natsProc {
	tb.Helper()
	info, err := l.JetStream().Stream(tb.Context(), l.Stream())
	if err != nil {
		tb.Fatal(err)
	}
	leader := info.CachedInfo().Cluster.Leader
	for _, n := range nodes {
		if n.name == leader {
			return n
		}
	}
	tb.Fatalf("stream leader %q is not one of the nodes", leader)
	return nil
}
