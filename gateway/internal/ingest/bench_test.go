package ingest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
)

// BenchmarkIngest compares, in one run and over loopback HTTP with 64 concurrent
// senders, durable ingest (verify, normalise, append to the embedded JetStream log,
// answer after the ack) with a bare net/http handler that only reads the body.
//
//	go test -run '^$' -bench BenchmarkIngest -benchtime 5s ./internal/ingest/
func BenchmarkIngest(b *testing.B) {
	sizes := []struct {
		name string
		pad  int
	}{{"hasura-0.5KiB", 0}, {"hasura-4KiB", 3500}, {"hasura-64KiB", 64 << 10}}
	l := openLog(b, eventlog.Config{})
	hooks, err := New(Config{Log: l, Routes: []Route{hasuraRoute(b, "hasura", "")}, Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/hooks/{source}", hooks)
	ingestSrv := httptest.NewServer(mux)
	defer ingestSrv.Close()
	bareSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"accepted"}`))
	}))
	defer bareSrv.Close()

	var run atomic.Int64
	for _, size := range sizes {
		pad := strings.Repeat("x", size.pad)
		for _, target := range []struct{ name, url string }{
			{"bare", bareSrv.URL + "/hooks/hasura"},
			{"ingest", ingestSrv.URL + "/hooks/hasura"},
		} {
			b.Run(size.name+"/"+target.name, func(b *testing.B) {
				prefix := "b" + strconv.FormatInt(run.Add(1), 10) + "-"
				body := func(i int64) []byte {
					return []byte(`{"id":"` + prefix + strconv.FormatInt(i, 10) + `","table":{"schema":"public","name":"orders"},` +
						`"trigger":{"name":"orders_all"},"event":{"op":"INSERT","data":{"old":null,"new":{"id":` + strconv.FormatInt(i, 10) +
						`,"status":"new","note":"` + pad + `"}},"session_variables":{"x-hasura-role":"admin"},"trace_context":null},` +
						`"delivery_info":{"current_retry":0,"max_retries":3},"created_at":"2024-05-01T09:30:00.123456"}`)
				}
				b.SetBytes(int64(len(body(0))))
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, DisableCompression: true}}
				var (
					seq  atomic.Int64
					mu   sync.Mutex
					lats []time.Duration
				)
				b.SetParallelism(32) // 64 senders on 2 cores
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					var mine []time.Duration
					for pb.Next() {
						req, _ := http.NewRequest(http.MethodPost, target.url, bytes.NewReader(body(seq.Add(1))))
						req.Header.Set("Content-Type", "application/json")
						req.Header.Set("X-Hasura-Webhook-Secret", hasuraSecret)
						t0 := time.Now()
						resp, err := client.Do(req)
						if err != nil {
							b.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						_ = resp.Body.Close()
						mine = append(mine, time.Since(t0))
						if resp.StatusCode != http.StatusOK {
							b.Errorf("status %d", resp.StatusCode)
							return
						}
					}
					mu.Lock()
					lats = append(lats, mine...)
					mu.Unlock()
				})
				elapsed := time.Since(start)
				b.StopTimer()
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
				if len(lats) > 0 {
					slices.Sort(lats)
					b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds())/1000, "p99-ms")
				}
				client.CloseIdleConnections()
			})
		}
	}
	_ = fmt.Sprint
}
