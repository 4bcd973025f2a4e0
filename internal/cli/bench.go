package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// benchOptions configures a load run.
type benchOptions struct {
	source      string
	fixture     string
	dataDir     string
	rate        float64       // requests/s (open loop); 0 = closed loop
	concurrency int           // workers
	duration    time.Duration // how long to send
	requests    int64         // optional cap on the number of requests
}

// benchResult is the run's summary (also the --json output).
type benchResult struct {
	Source          string             `json:"source"`
	Mode            string             `json:"mode"` // "rate" or "concurrency"
	Rate            float64            `json:"rate,omitempty"`
	Concurrency     int                `json:"concurrency"`
	DurationSeconds float64            `json:"duration_seconds"`
	Requests        int64              `json:"requests"`
	OK              int64              `json:"ok"`
	Errors          int64              `json:"errors"`
	Throughput      float64            `json:"throughput_per_second"`
	LatencyMS       map[string]float64 `json:"latency_ms"`
	Statuses        map[string]int64   `json:"statuses"`
	FirstError      string             `json:"first_error,omitempty"`
}

// benchPlaceholder stands for the unique id in a body template.
const benchPlaceholder = "hookmesh-bench-id-placeholder"

// benchWorker keeps its own samples; they are merged at the end.
type benchWorker struct {
	lat      []time.Duration
	statuses map[string]int64
	firstErr string
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("bench", "bench [--rate N | --concurrency N] [--duration D] [--source S] [flags]", stdout, stderr)
	c.connFlags()
	o := benchOptions{}
	var durationFlag time.Duration
	c.fs.StringVar(&o.source, "source", "hasura", "source to load (signed correctly, a unique id per request)")
	c.fs.StringVar(&o.fixture, "fixture", "", "fixture to send (default per source)")
	c.fs.StringVar(&o.dataDir, "data-dir", "", "where `hookmesh serve` keeps generated demo secrets (env HOOKMESH_DATA_DIR)")
	c.fs.Float64Var(&o.rate, "rate", 0, "requests per second, open loop (latency counts from the planned send time); 0 = as fast as --concurrency allows")
	c.fs.IntVar(&o.concurrency, "concurrency", 0, "concurrent senders (default 32; with --rate, at most this many in flight, default 256)")
	c.fs.DurationVar(&durationFlag, "duration", 10*time.Second, "how long to send")
	c.fs.Int64Var(&o.requests, "requests", 0, "stop after this many requests (0 = no limit)")
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.fail(usagef("unexpected argument %q", pos[0]))
	}
	o.duration = durationFlag
	switch {
	case o.duration <= 0:
		return c.fail(usagef("--duration must be positive"))
	case o.rate < 0 || math.IsNaN(o.rate) || math.IsInf(o.rate, 0):
		return c.fail(usagef("--rate must be positive"))
	case o.concurrency < 0 || o.concurrency > 10000:
		return c.fail(usagef("--concurrency must be between 1 and 10000"))
	case o.requests < 0:
		return c.fail(usagef("--requests must not be negative"))
	}
	if o.concurrency == 0 {
		o.concurrency = 32
		if o.rate > 0 {
			o.concurrency = 256
		}
	}
	o.dataDir = firstNonEmpty(o.dataDir, os.Getenv("HOOKMESH_DATA_DIR"), DefaultDataDir)
	cl, err := c.client()
	if err != nil {
		return c.fail(err)
	}
	res, err := bench(ctx, cl, o, stderr, isTerminal(stderr) && !c.json)
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		if err := marshalLine(stdout, res); err != nil {
			return c.fail(err)
		}
	} else {
		printBench(stdout, res)
	}
	if res.OK == 0 {
		return c.fail(fmt.Errorf("no request succeeded (%s)", firstNonEmpty(res.FirstError, "see the statuses above")))
	}
	return ExitOK
}

// bench runs the load and returns its summary; progress goes to progress.
func bench(ctx context.Context, cl *client, o benchOptions, progress io.Writer, tty bool) (*benchResult, error) {
	// One signed template; each request gets its own id and signature.
	so := sendOptions{source: o.source, dataDir: o.dataDir, fixture: o.fixture, id: benchPlaceholder}
	kind, secretEnv, err := so.resolveSource()
	if err != nil {
		return nil, err
	}
	secret, err := sourceSecret(secretEnv, o.dataDir)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", o.source, err)
	}
	tmpl, err := so.prepare(time.Now())
	if err != nil {
		return nil, err
	}
	eventHeader := firstNonEmpty(tmpl.headers.Get("X-GitHub-Event"), tmpl.headers.Get("X-Shopify-Topic"))
	runID := randomToken(8, alnum)

	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        o.concurrency,
		MaxIdleConnsPerHost: o.concurrency,
		IdleConnTimeout:     30 * time.Second,
	}
	defer transport.CloseIdleConnections()
	hc := &http.Client{Transport: transport, Timeout: 30 * time.Second}

	start := time.Now()
	end := start.Add(o.duration)
	runCtx, cancel := context.WithDeadline(ctx, end.Add(30*time.Second)) // in-flight requests may finish
	defer cancel()
	var seq, sent, okCount, errCount atomic.Int64
	var interval time.Duration
	if o.rate > 0 {
		interval = time.Duration(float64(time.Second) / o.rate)
	}
	workers := make([]*benchWorker, o.concurrency)
	var wg sync.WaitGroup
	for w := range workers {
		bw := &benchWorker{statuses: map[string]int64{}}
		workers[w] = bw
		wg.Go(func() {
			for ctx.Err() == nil {
				i := seq.Add(1) - 1
				if o.requests > 0 && i >= o.requests {
					return
				}
				planned := time.Now()
				if interval > 0 {
					planned = start.Add(time.Duration(i) * interval)
					if !planned.Before(end) {
						return
					}
					if wait := time.Until(planned); wait > 0 {
						select {
						case <-time.After(wait):
						case <-ctx.Done():
							return
						}
					}
				} else if !planned.Before(end) {
					return
				}
				id := runID + "-" + strconv.FormatInt(i, 10)
				r := &request{kind: kind, headers: tmpl.headers.Clone(), body: bytes.ReplaceAll(tmpl.body, []byte(benchPlaceholder), []byte(id))}
				idHeaders(kind, r.headers, id, eventHeader, time.Now())
				if err := sign(kind, &delivery{body: r.body, headers: r.headers}, secret, time.Now()); err != nil {
					bw.record("sign_error", 0, err)
					errCount.Add(1)
					continue
				}
				status, _, err := post(runCtx, hc, cl.base, o.source, r)
				took := time.Since(planned)
				sent.Add(1)
				switch {
				case err != nil:
					if ctx.Err() != nil {
						return
					}
					bw.record(transportClass(err), took, err)
					errCount.Add(1)
				case status/100 == 2:
					bw.record(strconv.Itoa(status), took, nil)
					okCount.Add(1)
				default:
					bw.record(strconv.Itoa(status), took, fmt.Errorf("HTTP %d", status))
					errCount.Add(1)
				}
			}
		})
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// Progress every second (twice in a short run).
	tick := time.NewTicker(min(time.Second, max(o.duration/2, 100*time.Millisecond)))
	defer tick.Stop()
	var last int64
	lastAt := start
loop:
	for {
		select {
		case <-done:
			break loop
		case now := <-tick.C:
			n := sent.Load()
			line := fmt.Sprintf("%5.0fs  %8d sent  %8.0f/s  ok %d  errors %d", now.Sub(start).Seconds(), n,
				float64(n-last)/now.Sub(lastAt).Seconds(), okCount.Load(), errCount.Load())
			last, lastAt = n, now
			if tty {
				fmt.Fprintf(progress, "\r%s", line)
			} else {
				fmt.Fprintln(progress, line)
			}
		}
	}
	if tty {
		fmt.Fprintln(progress)
	}
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil && sent.Load() == 0 {
		return nil, fmt.Errorf("bench stopped: %w", err)
	}
	return summarize(o, workers, elapsed), nil
}

func (w *benchWorker) record(status string, took time.Duration, err error) {
	w.statuses[status]++
	if took > 0 {
		w.lat = append(w.lat, took)
	}
	if err != nil && w.firstErr == "" {
		w.firstErr = err.Error()
	}
}

// transportClass names a transport failure for the status table.
func transportClass(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection_refused"
	case strings.Contains(err.Error(), "connection reset"):
		return "connection_reset"
	}
	return "transport_error"
}

func summarize(o benchOptions, workers []*benchWorker, elapsed time.Duration) *benchResult {
	res := &benchResult{Source: o.source, Mode: "concurrency", Concurrency: o.concurrency, Statuses: map[string]int64{}}
	if o.rate > 0 {
		res.Mode, res.Rate = "rate", o.rate
	}
	var lat []time.Duration
	for _, w := range workers {
		lat = append(lat, w.lat...)
		for k, v := range w.statuses {
			res.Statuses[k] += v
			res.Requests += v
			if code, err := strconv.Atoi(k); err == nil && code/100 == 2 {
				res.OK += v
			}
		}
		if res.FirstError == "" {
			res.FirstError = w.firstErr
		}
	}
	res.Errors = res.Requests - res.OK
	res.DurationSeconds = elapsed.Seconds()
	if elapsed > 0 {
		res.Throughput = float64(res.OK) / elapsed.Seconds()
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
	res.LatencyMS = map[string]float64{}
	if n := len(lat); n > 0 {
		var sum time.Duration
		for _, d := range lat {
			sum += d
		}
		res.LatencyMS["p50"] = ms(percentile(lat, 0.50))
		res.LatencyMS["p90"] = ms(percentile(lat, 0.90))
		res.LatencyMS["p99"] = ms(percentile(lat, 0.99))
		res.LatencyMS["max"] = ms(lat[n-1])
		res.LatencyMS["mean"] = ms(sum / time.Duration(n))
	}
	return res
}

// percentile is the nearest-rank percentile of sorted samples.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func printBench(w io.Writer, r *benchResult) {
	mode := fmt.Sprintf("%d concurrent senders", r.Concurrency)
	if r.Mode == "rate" {
		mode = fmt.Sprintf("target %.0f/s, up to %d in flight", r.Rate, r.Concurrency)
	}
	fmt.Fprintf(w, "source      %s (%s)\n", r.Source, mode)
	fmt.Fprintf(w, "requests    %d in %.1fs: %d ok, %d errors\n", r.Requests, r.DurationSeconds, r.OK, r.Errors)
	fmt.Fprintf(w, "throughput  %.1f accepted/s\n", r.Throughput)
	if len(r.LatencyMS) > 0 {
		fmt.Fprintf(w, "latency     p50 %s  p90 %s  p99 %s  max %s  (mean %s)\n", fmtMS(r.LatencyMS["p50"]), fmtMS(r.LatencyMS["p90"]),
			fmtMS(r.LatencyMS["p99"]), fmtMS(r.LatencyMS["max"]), fmtMS(r.LatencyMS["mean"]))
	}
	keys := make([]string, 0, len(r.Statuses))
	for k := range r.Statuses {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, r.Statuses[k]))
	}
	fmt.Fprintf(w, "statuses    %s\n", strings.Join(parts, ", "))
	if r.FirstError != "" {
		fmt.Fprintf(w, "first error %s\n", r.FirstError)
	}
}

func fmtMS(v float64) string {
	if v < 1 {
		return strconv.FormatFloat(v*1000, 'f', 0, 64) + "µs"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + "ms"
}
