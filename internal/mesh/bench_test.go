package mesh

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tracingModes are the trace settings compared, all through the standard
// OTEL_* environment of the all-in-one process. The first is the baseline.
var tracingModes = []struct {
	name string
	env  map[string]string
	otlp bool // export to an OTLP/HTTP collector (batch span processor)
}{
	// No span recorded; trace context still flows (new ids, not sampled).
	{name: "off", env: map[string]string{"OTEL_TRACES_SAMPLER": "always_off"}},
	// The embedded default: spans recorded (parent-based, always on), none exported.
	{name: "unexported", env: map[string]string{}},
	{name: "10%", otlp: true, env: map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}},
	{name: "100%", otlp: true, env: map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_always_on"}},
}

// discardCollector is an OTLP/HTTP endpoint that reads and drops every export,
// counting bytes: the exporter does its real work, the collector none.
type discardCollector struct{ bytes atomic.Int64 }

func (c *discardCollector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, _ := io.Copy(io.Discard, r.Body)
	c.bytes.Add(n)
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

// tracedMesh is one running mesh of a tracing mode.
type tracedMesh struct {
	r      *running
	secret string // its HASURA_WEBHOOK_SECRET (each mesh generates its own)
	col    *discardCollector
	sent   int // user inserts sent so far
}

func startTracedMesh(b *testing.B, env map[string]string, otlp bool) *tracedMesh {
	b.Helper()
	for _, k := range []string{"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		b.Setenv(k, "")
		_ = os.Unsetenv(k)
	}
	for k, v := range env {
		b.Setenv(k, v)
	}
	m := &tracedMesh{}
	if otlp {
		m.col = &discardCollector{}
		srv := httptest.NewServer(m.col)
		b.Cleanup(srv.Close)
		b.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
		b.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	}
	// No test exporter: spans go where the environment says. The environment
	// is read once, at start, so meshes of every mode can run side by side.
	m.r = startMeshWith(b, func(o *Options) { o.SpanExporter = nil })
	m.secret = os.Getenv("HASURA_WEBHOOK_SECRET")
	return m
}

var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

func (m *tracedMesh) post(body string) error {
	req, err := http.NewRequest(http.MethodPost, m.r.base+"/hooks/hasura", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hasura-Webhook-Secret", m.secret)
	resp, err := benchClient.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /hooks/hasura: %d", resp.StatusCode)
	}
	return nil
}

// delivered reads hookmesh_dispatch_deliveries_total{outcome="delivered"} per
// subscription from /metrics.
func (m *tracedMesh) delivered() (map[string]float64, error) {
	resp, err := benchClient.Get(m.r.base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	const prefix = `hookmesh_dispatch_deliveries_total{outcome="delivered",subscription="`
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		sub, val, _ := strings.Cut(rest, `"} `)
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", sc.Text(), err)
		}
		out[sub] = v
	}
	return out, sc.Err()
}

// send posts n webhooks from 32 concurrent senders, body(i) for i in [from, from+n).
func (m *tracedMesh) send(b *testing.B, from, n int, body func(i int) string) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 32 {
		wg.Go(func() {
			for i := range jobs {
				if err := m.post(body(i)); err != nil {
					failed.Store(err)
				}
			}
		})
	}
	for i := from; i < from+n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
}

var benchSeq atomic.Int64

// ingestSegment sends n webhooks of a type no subscription takes: HTTP,
// verification, normalisation, the durable append (and the dispatcher's
// cheap skip of the type).
func (m *tracedMesh) ingestSegment(b *testing.B, n int) {
	base := int(benchSeq.Add(int64(n))) - n
	m.send(b, base, n, func(i int) string {
		return tableEvent("bench-"+strconv.Itoa(i), "audit_log", "INSERT", "null", `{"id":1,"actor":"bench","action":"login"}`)
	})
}

// endToEndSegment sends n user inserts and waits until email (a welcome email
// in the outbox) and analytics have each taken all of them.
func (m *tracedMesh) endToEndSegment(b *testing.B, n int) {
	from := m.sent
	m.sent += n
	m.send(b, from, n, func(i int) string {
		return tableEvent("e2e-"+strconv.Itoa(i), "users", "INSERT", "null", userRow(i, "user"+strconv.Itoa(i)+"@example.com", "User"))
	})
	deadline := time.Now().Add(5 * time.Minute)
	for {
		d, err := m.delivered()
		if err != nil {
			b.Fatal(err)
		}
		if d["email"] >= float64(m.sent) && d["analytics"] >= float64(m.sent) {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("after 5 minutes: delivered %v of %d", d, m.sent)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkMeshTracing measures the whole mesh's throughput with tracing off,
// on but unexported (the embedded default), and sampled at 10% and 100% with
// OTLP export through the batch span processor. One mesh per mode runs side
// by side; rounds (30 for ingest, 15 end to end) alternate the modes in
// rotating order, b.N events per mode and round, so that a machine shared with
// other work slows every mode alike.
// Reported: each mode's median events/s, and its median per-round throughput
// cost against "off" in the same round (cost-% = 100 × (1 − mode/off)).
//
//	ingest: webhooks of a type no subscription takes, 32 concurrent senders.
//	end-to-end: user inserts, 32 concurrent senders, until every event is
//	        delivered to email (welcome email in the outbox) and analytics.
//
// go test ./internal/mesh -run '^$' -bench MeshTracing -benchtime 1000x
func BenchmarkMeshTracing(b *testing.B) {
	meshes := make([]*tracedMesh, len(tracingModes))
	for i, mode := range tracingModes {
		meshes[i] = startTracedMesh(b, mode.env, mode.otlp)
	}
	for _, kind := range []struct {
		name    string
		rounds  int // ingest segments are short: more of them
		segment func(m *tracedMesh, b *testing.B, n int)
	}{
		{"ingest", 30, (*tracedMesh).ingestSegment},
		{"end-to-end", 15, (*tracedMesh).endToEndSegment},
	} {
		rounds := kind.rounds
		b.Run(kind.name, func(b *testing.B) {
			// Warm every mesh up (connections, SQLite pages, JIT of the stores).
			for _, m := range meshes {
				kind.segment(m, b, min(b.N, 200))
			}
			rate := make([][]float64, len(meshes)) // mode → per-round events/s
			b.ResetTimer()
			start := time.Now()
			for round := range rounds {
				for k := range meshes {
					i := (round + k) % len(meshes)
					t0 := time.Now()
					kind.segment(meshes[i], b, b.N)
					rate[i] = append(rate[i], float64(b.N)/time.Since(t0).Seconds())
				}
			}
			b.StopTimer()
			// ns/op: wall time per event over every mode.
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*rounds*len(meshes)), "ns/op")
			for i, mode := range tracingModes {
				b.ReportMetric(median(rate[i]), mode.name+"-events/s")
				if i == 0 {
					continue
				}
				costs := make([]float64, rounds)
				for r := range rounds {
					costs[r] = 100 * (1 - rate[i][r]/rate[0][r])
				}
				b.ReportMetric(median(costs), mode.name+"-cost-%")
			}
		})
	}
	for i, mode := range tracingModes {
		meshes[i].r.stop() // flushes the exporter
		if col := meshes[i].col; col != nil {
			b.Logf("%s: %d bytes of OTLP exported", mode.name, col.bytes.Load())
		}
	}
}
