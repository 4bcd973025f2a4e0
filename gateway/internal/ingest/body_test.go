package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	"github.com/hookmesh/hookmesh/platform/eventually"
	"github.com/hookmesh/hookmesh/platform/httpserver"
)

// trickle yields its bytes one Read at a time, then fails.
type trickle struct {
	data []byte
	err  error
}

func (t *trickle) Read(p []byte) (int, error) {
	if len(t.data) == 0 {
		return 0, t.err
	}
	n := copy(p[:min(len(p), 10)], t.data)
	t.data = t.data[n:]
	return n, nil
}

func TestReadGrowing(t *testing.T) {
	cut := errors.New("cut off")
	tests := []struct {
		name    string
		src     io.Reader
		n       int
		exact   bool
		wantLen int
		maxCap  int
		wantErr error
	}{
		{"declared 1 MiB, 30 bytes sent", &trickle{data: make([]byte, 30), err: cut}, 1 << 20, true, 30, firstChunk, cut},
		{"declared 1 MiB, all sent", bytes.NewReader(make([]byte, 1<<20)), 1 << 20, true, 1 << 20, 1 << 20, nil},
		{"declared 100 KiB, short", bytes.NewReader(make([]byte, 70<<10)), 100 << 10, true, 70 << 10, 100 << 10, io.ErrUnexpectedEOF},
		{"small body, one allocation", bytes.NewReader(make([]byte, 300)), 300, true, 300, 300, nil},
		{"chunked, 40 KiB of at most 1 MiB", bytes.NewReader(make([]byte, 40<<10)), 1<<20 + 1, false, 40 << 10, 64 << 10, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf, err := readGrowing(tt.src, tt.n, tt.exact)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if len(buf) != tt.wantLen || cap(buf) > tt.maxCap {
				t.Errorf("len %d cap %d, want len %d cap <= %d", len(buf), cap(buf), tt.wantLen, tt.maxCap)
			}
		})
	}
}

// serveReal serves h like the gateway: its own http.Server with httpserver's
// defaults on a loopback port.
func serveReal(t *testing.T, h http.Handler) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/hooks/{source}", h)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- httpserver.Serve(ctx, &http.Server{Handler: mux}, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return lis.Addr().String()
}

// slowSender declares a 1 MiB body, sends one byte and then one more every
// interval until the server answers or closes.
type slowSender struct {
	conn net.Conn
	stop chan struct{}
}

func startSlow(t *testing.T, addr string, interval time.Duration) *slowSender {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	s := &slowSender{conn: c, stop: make(chan struct{})}
	hdr := "POST /hooks/hasura HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\n" +
		"X-Hasura-Webhook-Secret: " + hasuraSecret + "\r\nContent-Length: 1048576\r\n\r\n{"
	if _, err := io.WriteString(c, hdr); err != nil {
		t.Fatal(err)
	}
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
				if _, err := c.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	return s
}

// answer reads the server's answer (status and error code) or "" when the
// connection closed without one.
func (s *slowSender) answer(deadline time.Time) (int, string, error) {
	defer close(s.stop)
	_ = s.conn.SetReadDeadline(deadline)
	resp, err := http.ReadResponse(bufio.NewReader(s.conn), nil)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	var out struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.Error.Code, nil
}

func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// Issue 17, item 1: 200 connections that each declare 1 MiB and trickle bytes
// neither balloon the heap nor lock out a real sender, and are answered 408
// within their source's body_timeout.
func TestSlowBodiesThroughListener(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 200 connections")
	}
	const slow, timeout = 200, 2 * time.Second
	l := openLog(t, eventlog.Config{})
	rt := hasuraRoute(t, "hasura", "")
	rt.BodyTimeout = timeout
	reg := prometheus.NewRegistry()
	h, err := New(Config{Routes: []Route{rt}, Log: l, Logger: testLogger(), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveReal(t, h)

	before := heapInuse()
	start := time.Now()
	senders := make([]*slowSender, slow)
	for i := range senders {
		senders[i] = startSlow(t, addr, 300*time.Millisecond)
	}
	eventually.True(t, 15*time.Second, "200 bodies in flight", func() bool { return h.inFlight.Load() == slow })
	grown := int64(heapInuse()) - int64(before)
	if g := gaugeValue(t, reg, "hookmesh_ingest_bodies_in_flight"); g != slow {
		t.Errorf("hookmesh_ingest_bodies_in_flight = %v, want %d", g, slow)
	}
	// 200 declared MiB reserved up front were 200 MiB; what arrived is a few bytes each.
	if grown > 40<<20 {
		t.Errorf("heap in use grew %d MiB with %d slow bodies open", grown>>20, slow)
	}
	t.Logf("heap in use grew %d KiB with %d slow bodies open", grown>>10, slow)

	res := post(t, "http://"+addr+"/hooks/hasura", hasuraHeader(), hasuraBody("legit-1"))
	if res.Status != http.StatusOK {
		t.Fatalf("legitimate sender during the attack: %d %s", res.Status, res.Raw)
	}

	var wg sync.WaitGroup
	results := make([]string, slow)
	for i, s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, code, err := s.answer(start.Add(timeout + 5*time.Second))
			switch {
			case err != nil:
				results[i] = "error: " + err.Error()
			default:
				results[i] = strconv.Itoa(status) + " " + code
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	counts := map[string]int{}
	for _, r := range results {
		counts[r]++
	}
	if counts["408 request_timeout"] != slow {
		t.Errorf("answers to slow bodies: %v, want all 408 request_timeout", counts)
	}
	if took > timeout+4*time.Second {
		t.Errorf("slow bodies answered after %v, body_timeout %v", took, timeout)
	}
	eventually.True(t, 15*time.Second, "no bodies in flight", func() bool { return h.inFlight.Load() == 0 })
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// Over the listener's cap a request is refused at once with 503 over_capacity
// and a Retry-After, before its body is read.
func TestOverCapacity(t *testing.T) {
	l := openLog(t, eventlog.Config{})
	h, err := New(Config{Routes: []Route{hasuraRoute(t, "hasura", "")}, Log: l, Logger: testLogger(), MaxBodiesInFlight: 2})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveReal(t, h)
	for range 2 {
		startSlow(t, addr, time.Second)
	}
	eventually.True(t, 15*time.Second, "2 bodies in flight", func() bool { return h.inFlight.Load() == 2 })
	res := post(t, "http://"+addr+"/hooks/hasura", hasuraHeader(), hasuraBody("over-1"))
	if res.Status != http.StatusServiceUnavailable || res.code() != "over_capacity" || res.RetryAfter != "1" {
		t.Fatalf("over the cap: %d %q Retry-After %q", res.Status, res.code(), res.RetryAfter)
	}
}

// Issue 17, item 2: a client that writes its whole (too large) body before it
// reads reads the 413, with or without a declared length.
func TestTooLargeAnsweredToEagerWriter(t *testing.T) {
	l := openLog(t, eventlog.Config{})
	h, err := New(Config{Routes: []Route{hasuraRoute(t, "hasura", "")}, Log: l, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveReal(t, h)
	body := bytes.Repeat([]byte("x"), 2<<20)
	chunked := func() []byte {
		var b bytes.Buffer
		for p := body; len(p) > 0; {
			n := min(len(p), 64<<10)
			fmt.Fprintf(&b, "%x\r\n%s\r\n", n, p[:n])
			p = p[n:]
		}
		b.WriteString("0\r\n\r\n")
		return b.Bytes()
	}()
	for _, tt := range []struct {
		name, framing string
		payload       []byte
	}{
		{"content-length 2 MiB", "Content-Length: " + strconv.Itoa(len(body)), body},
		{"chunked 2 MiB", "Transfer-Encoding: chunked", chunked},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for i := range 3 {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = c.Close() }()
				// A small send buffer, as over a real network: the write blocks until
				// the server reads, as Python's http.client does at 2 MiB.
				_ = c.(*net.TCPConn).SetWriteBuffer(32 << 10)
				_ = c.SetDeadline(time.Now().Add(20 * time.Second))
				req := "POST /hooks/hasura HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + tt.framing + "\r\n\r\n"
				if _, err := c.Write(append([]byte(req), tt.payload...)); err != nil {
					t.Fatalf("try %d: writing the body: %v", i, err)
				}
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatalf("try %d: reading the answer: %v", i, err)
				}
				raw, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(raw), `"body_too_large"`) {
					t.Fatalf("try %d: %d %s", i, resp.StatusCode, raw)
				}
			}
		})
	}
}
