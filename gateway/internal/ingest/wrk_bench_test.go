package ingest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// BenchmarkIngestWrk splits issue 3's ratio (durable ingest ÷ a bare net/http handler,
// wrk on the same machine) into its parts by loading three servers in one process,
// in alternating rounds, with the same wrk script as scripts/bench-ingest.sh:
//
//	bare     reads the body and answers (the baseline)
//	handler  the ingest handler in full (secret check, decode, typed event) with a log
//	         that encodes the envelope and drops it: all of ingest but the append
//	ingest   the same handler appending to the embedded JetStream log
//
// For each it reports the median requests/s and the servers' CPU per request (this
// process only; wrk is a child). Needs wrk (Debian package); skipped without it.
//
//	HOOKMESH_BENCH_SECONDS=8 HOOKMESH_BENCH_ROUNDS=3 go test ./internal/ingest -run '^$' -bench IngestWrk -benchtime 1x
func BenchmarkIngestWrk(b *testing.B) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		b.Skip("wrk is not installed (apt-get install wrk)")
	}
	script, err := filepath.Abs("../../../scripts/bench-ingest/hasura.lua")
	if err != nil {
		b.Fatal(err)
	}
	secs := benchEnvInt(b, "HOOKMESH_BENCH_SECONDS", 5)
	rounds := benchEnvInt(b, "HOOKMESH_BENCH_ROUNDS", 3)
	conns := benchEnvInt(b, "HOOKMESH_BENCH_CONNS", 64)

	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"accepted"}`)
	}))
	defer bare.Close()
	targets := []struct{ name, url string }{
		{"bare", bare.URL},
		{"handler", serve(b, Config{Log: encodeOnlyLog{}, Routes: []Route{hasuraRoute(b, "hasura", "")}})},
		{"ingest", serve(b, Config{Log: openLog(b, eventlog.Config{}), Routes: []Route{hasuraRoute(b, "hasura", "")}})},
	}
	type sample struct{ rps, cpuPerReq float64 }
	results := map[string][]sample{}
	run := 0
	load := func(url string, d time.Duration) (reqs, rps float64) {
		run++
		cmd := exec.Command(wrk, "-t2", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(int(d.Seconds()))+"s", "-s", script, url)
		// Every wrk process sends its own ids: a re-sent id would be a cheap duplicate.
		cmd.Env = append(os.Environ(), "BENCH_HASURA_SECRET="+hasuraSecret, "BENCH_RUN="+strconv.Itoa(os.Getpid()*1000+run))
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("wrk: %v\n%s", err, out)
		}
		if m := regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`).FindSubmatch(out); m != nil {
			b.Fatalf("%s answered %s requests with an error status:\n%s", url, m[1], out)
		}
		m := regexp.MustCompile(`(\d+) requests in`).FindSubmatch(out)
		r := regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`).FindSubmatch(out)
		if m == nil || r == nil {
			b.Fatalf("unexpected wrk output:\n%s", out)
		}
		reqs, _ = strconv.ParseFloat(string(m[1]), 64)
		rps, _ = strconv.ParseFloat(string(r[1]), 64)
		return reqs, rps
	}
	if only := os.Getenv("HOOKMESH_BENCH_TARGETS"); only != "" { // e.g. "bare ingest", to profile one
		targets = slices.DeleteFunc(targets, func(t struct{ name, url string }) bool {
			return !slices.Contains(strings.Fields(only), t.name)
		})
	}
	for range rounds {
		for _, t := range targets {
			load(t.url, time.Second) // warm-up
			cpu0 := selfCPU(b)
			reqs, rps := load(t.url, time.Duration(secs)*time.Second)
			cpu := selfCPU(b) - cpu0
			results[t.name] = append(results[t.name], sample{rps, float64(cpu.Microseconds()) / reqs})
		}
	}
	median := func(name string, f func(sample) float64) float64 {
		v := make([]float64, 0, len(results[name]))
		for _, s := range results[name] {
			v = append(v, f(s))
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	rps := func(s sample) float64 { return s.rps }
	cpu := func(s sample) float64 { return s.cpuPerReq }
	for _, t := range targets {
		b.ReportMetric(median(t.name, rps), t.name+"-req/s")
		b.ReportMetric(median(t.name, cpu), t.name+"-cpu-us/req")
		if t.name != "bare" && len(results["bare"]) > 0 {
			base := median("bare", rps)
			b.ReportMetric(median(t.name, rps)/base, t.name+"/bare")
		}
	}
	b.Logf("%d rounds of %d s at %d connections: %v", rounds, secs, conns, results)
}

func benchEnvInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// selfCPU is this process's user+system CPU time so far (children excluded).
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// encodeOnlyLog encodes the event as Append does and keeps nothing: the handler's
// whole cost without the log's.
type encodeOnlyLog struct{}

func (encodeOnlyLog) Append(_ context.Context, ev *eventv1.Event) (eventlog.AppendResult, error) {
	if _, err := proto.Marshal(ev); err != nil {
		return eventlog.AppendResult{}, err
	}
	return eventlog.AppendResult{Seq: 1}, nil
}
