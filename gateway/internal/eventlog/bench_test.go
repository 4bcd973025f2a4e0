package eventlog_test

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// BenchmarkAppend compares, in one run on the embedded server with its in-process
// connection: Append (one publish on the event's own subject, checked empty) against
// a raw JetStream publish of the same bytes with a Nats-Msg-Id to a stream with the
// same storage and window, sequential and parallel, default and sync always.
//
//	go test -run '^$' -bench BenchmarkAppend -benchtime 2s ./internal/eventlog/
func BenchmarkAppend(b *testing.B) {
	for _, sync := range []string{"", eventlog.SyncAlways} {
		syncName := "default"
		if sync != "" {
			syncName = "sync-always"
		}
		b.Run(syncName, func(b *testing.B) {
			l := openLog(b, eventlog.Config{Sync: sync})
			raw := testPrefix(b) + "RAW"
			if _, err := l.JetStream().CreateStream(b.Context(), jetstream.StreamConfig{
				Name: raw, Subjects: []string{raw + ".>"}, Storage: jetstream.FileStorage,
				Duplicates: eventlog.DefaultDedupeWindow, Discard: jetstream.DiscardNew,
			}); err != nil {
				b.Fatal(err)
			}
			var ids atomic.Int64
			for _, size := range []int{1 << 10, 16 << 10} {
				ev := newEvent("stripe", "", "stripe.payment_intent.succeeded", size)
				data, err := proto.Marshal(ev)
				if err != nil {
					b.Fatal(err)
				}
				append1 := func(b *testing.B) {
					e := &eventv1.Event{
						Id: "evt_" + strconv.FormatInt(ids.Add(1), 10), Source: ev.Source, Type: ev.Type,
						Subject: ev.Subject, Time: ev.Time, ReceivedTime: ev.ReceivedTime,
						Datacontenttype: ev.Datacontenttype, OriginalBody: ev.OriginalBody,
					}
					res, err := l.Append(b.Context(), e)
					if err != nil || res.Duplicate {
						b.Fatalf("append: %+v, %v", res, err)
					}
				}
				publish1 := func(b *testing.B) {
					id := "stripe/evt_" + strconv.FormatInt(ids.Add(1), 10)
					ack, err := l.JetStream().PublishMsg(b.Context(), &nats.Msg{
						Subject: raw + ".stripe", Data: data,
						Header: nats.Header{jetstream.MsgIDHeader: {id}, eventlog.HeaderType: {ev.Type}},
					})
					if err != nil || ack.Duplicate {
						b.Fatalf("publish: %+v, %v", ack, err)
					}
				}
				for _, op := range []struct {
					name string
					fn   func(*testing.B)
				}{{"append", append1}, {"raw-publish", publish1}} {
					b.Run(fmt.Sprintf("%dKiB/%s", size>>10, op.name), func(b *testing.B) {
						b.SetBytes(int64(len(data)))
						m := startMeasure()
						for b.Loop() {
							op.fn(b)
						}
						m.report(b)
					})
					b.Run(fmt.Sprintf("%dKiB/%s-parallel", size>>10, op.name), func(b *testing.B) {
						b.SetBytes(int64(len(data)))
						b.SetParallelism(32)
						m := startMeasure()
						b.RunParallel(func(pb *testing.PB) {
							for pb.Next() {
								op.fn(b)
							}
						})
						m.report(b)
					})
				}
			}
		})
	}
}

// measure reports throughput and the process's CPU time per operation (the embedded
// server runs in-process, so that is the whole cost). On a shared machine CPU per op
// is the steadier figure: N cores sustain about N seconds / cpu-s-per-op.
type measure struct {
	wall time.Time
	cpu  time.Duration
}

func startMeasure() measure { return measure{wall: time.Now(), cpu: cpuTime()} }

func (m measure) report(b *testing.B) {
	b.ReportMetric(float64(b.N)/time.Since(m.wall).Seconds(), "ops/s")
	b.ReportMetric(float64((cpuTime()-m.cpu).Microseconds())/float64(b.N), "cpu-us/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHorizonCost measures what remembering ids costs: b.N events with typical
// ids (Stripe-style evt_ ids and UUIDs) go through Append in two halves. Each event
// has its own subject, so the server's per-subject index of the stream holds every
// id the log keeps. It reports the heap the second half added once the Nats-Msg-Id
// window forgot it (fixed caches are the same at both points and cancel out), and
// the bytes the id adds to each stored record (its escaped key in the subject).
//
//	go test -run '^$' -bench BenchmarkHorizonCost -benchtime 200000x ./internal/eventlog/
func BenchmarkHorizonCost(b *testing.B) {
	dir := b.TempDir()
	// A short Nats-Msg-Id window, so that the window's own memory (every id of the
	// last window, at any rate) is gone before the heap is measured.
	const window = 5 * time.Second
	l := openLog(b, eventlog.Config{DataDir: dir, DedupeWindow: window})
	body := []byte(`{"id":"evt"}`)
	var keyBytes atomic.Int64
	appendRange := func(from, to int64) {
		var wg sync.WaitGroup
		var next atomic.Int64
		next.Store(from - 1)
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1)
					if i > to {
						return
					}
					id := fmt.Sprintf("evt_%024d", i) // 28 characters, like Stripe's
					source := "stripe"
					if i%2 == 0 {
						id = fmt.Sprintf("%08x-6f2b-4bbd-b5e6-%012x", i, i) // a UUID, like Hasura's
						source = "hasura"
					}
					keyBytes.Add(int64(len(l.EventSubject(source, id)) - len(eventlog.SubjectRoot+"."+source)))
					if res := mustAppend(b, l, &eventv1.Event{Id: id, Source: source, Type: "t", OriginalBody: body}); res.Duplicate {
						b.Errorf("append %s: duplicate", id)
						return
					}
				}
			}()
		}
		wg.Wait()
		time.Sleep(window + time.Second) // the window's ids expire
	}
	half := int64(b.N / 2)
	appendRange(1, half)
	heapHalf := heapInUse()
	appendRange(half+1, int64(b.N))
	heapAll := heapInUse()
	perMillion := func(v float64, n int64) float64 { return v / float64(n) * 1e6 / (1 << 20) }
	b.ReportMetric(perMillion(float64(heapAll-heapHalf), int64(b.N)-half), "heap-MiB/1M-ids")
	b.ReportMetric(float64(keyBytes.Load())/float64(b.N), "key-bytes/event")
}

func heapInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}
