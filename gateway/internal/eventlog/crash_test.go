package eventlog_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
)

// Crash tests: a child process (this test binary, re-executed) appends events and
// SIGKILLs itself at a named fault point; the parent reopens the same data dir.
const (
	crashEvents = 10
	crashAfter  = 5 // die at the 5th time the point is reached
	crashWindow = time.Second
)

// TestHelperProcess is the child: it does nothing unless HOOKMESH_FAULT is set.
func TestHelperProcess(t *testing.T) {
	point := os.Getenv("HOOKMESH_FAULT")
	dir := os.Getenv("HOOKMESH_FAULT_DIR")
	if point == "" || dir == "" {
		return
	}
	var mu sync.Mutex
	hits := 0
	cfg := eventlog.Config{DataDir: dir, DedupeWindow: crashWindow, Fault: func(p string) error {
		if p != point {
			return nil
		}
		mu.Lock()
		hits++
		n := hits
		mu.Unlock()
		if n == crashAfter {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // never return from the fault point
		}
		return nil
	}}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	l, err := eventlog.Open(ctx, cfg, testLogger())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if err := l.WaitReady(ctx); err != nil {
		t.Fatalf("ready: %v", err)
	}
	for i := range crashEvents {
		id := fmt.Sprintf("evt_%02d", i)
		_, _ = os.Stdout.WriteString("ATTEMPT " + id + "\n")
		res, err := l.Append(ctx, newEvent("stripe", id, "stripe.charge.succeeded", 200))
		if err != nil {
			t.Fatalf("append %s: %v", id, err)
		}
		_, _ = fmt.Fprintf(os.Stdout, "ACK %s %d %t\n", id, res.Seq, res.Duplicate)
	}
	t.Fatalf("fault point %s was never reached", point)
}

type childRun struct {
	acked    map[string]uint64 // id -> seq the child was told
	inflight string            // attempted, never acknowledged
}

func runCrashChild(t *testing.T, dir, point string) childRun {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1", "-test.v=false")
	cmd.Env = append(os.Environ(), "HOOKMESH_FAULT="+point, "HOOKMESH_FAULT_DIR="+dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	run := childRun{acked: map[string]uint64{}}
	sc := bufio.NewScanner(out)
	var other []string
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "ATTEMPT":
			run.inflight = f[1]
		case len(f) == 4 && f[0] == "ACK":
			seq, _ := strconv.ParseUint(f[2], 10, 64)
			if f[3] != "false" {
				t.Errorf("child: %s was a duplicate on its first append", f[1])
			}
			run.acked[f[1]] = seq
			run.inflight = ""
		default:
			other = append(other, sc.Text())
		}
	}
	err = cmd.Wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		t.Fatalf("child exited with %v, want SIGKILL at %s\nstdout: %s\nstderr: %s", err, point, other, stderr.String())
	}
	if ws, ok := exitErr.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL at %s\nstdout: %s\nstderr: %s", err, point, other, stderr.String())
	}
	return run
}

// TestCrashPoints kills the appending process between each two steps of the append
// path, then restarts on the same data dir, either at once or after a downtime
// longer than the Nats-Msg-Id window (so that the restarted server has forgotten the
// ids and only the events' own subjects can recognise them).
// Every acknowledged event is in the log exactly once and answers Duplicate when
// re-sent; an event whose first attempt died before its publish is accepted on retry.
func TestCrashPoints(t *testing.T) {
	t.Parallel()
	for _, point := range eventlog.FaultPoints {
		for _, downtime := range []time.Duration{0, crashWindow + 200*time.Millisecond} {
			name := point + "/quick-restart"
			if downtime > 0 {
				name = point + "/after-downtime"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				testCrashPoint(t, point, downtime)
			})
		}
	}
}

func testCrashPoint(t *testing.T, point string, downtime time.Duration) {
	dir := t.TempDir()
	run := runCrashChild(t, dir, point)
	if len(run.acked) == 0 {
		t.Fatal("child acknowledged nothing before dying")
	}
	time.Sleep(downtime)

	l := openLog(t, eventlog.Config{DataDir: dir, DedupeWindow: crashWindow})
	// The restarted server rebuilds the Nats-Msg-Id window from the log's last window
	// and forgets those ids one window after the restart.
	reopened := time.Now()
	resend := func(when string) {
		for id, seq := range run.acked {
			res := mustAppend(t, l, newEvent("stripe", id, "stripe.charge.succeeded", 200))
			if !res.Duplicate || res.Seq != seq {
				t.Errorf("re-sent acknowledged %s %s = %+v, want duplicate of seq %d", id, when, res, seq)
			}
		}
	}
	resend("right after the restart")
	if downtime == 0 {
		time.Sleep(time.Until(reopened.Add(crashWindow + 500*time.Millisecond)))
		resend("after the Nats-Msg-Id window")
	}

	counts := countEvents(t, l)
	for id := range run.acked {
		if n := counts["stripe/"+id]; n != 1 {
			t.Errorf("acknowledged %s is in the log %d times, want 1", id, n)
		}
	}
	for msgID, n := range counts {
		id := strings.TrimPrefix(msgID, "stripe/")
		if _, ok := run.acked[id]; !ok && id != run.inflight {
			t.Errorf("log holds %s (%d times), which the child never attempted", msgID, n)
		}
	}
	if run.inflight != "" {
		wasStored := counts["stripe/"+run.inflight] == 1
		res := mustAppend(t, l, newEvent("stripe", run.inflight, "stripe.charge.succeeded", 200))
		switch point {
		case eventlog.FaultChecked:
			if wasStored || res.Duplicate {
				t.Errorf("event that died before its publish: stored=%v, retry duplicate=%v; want absent and accepted", wasStored, res.Duplicate)
			}
		case eventlog.FaultPublished:
			if !wasStored || !res.Duplicate {
				t.Errorf("event that died after its publish: stored=%v, retry duplicate=%v; want stored and duplicate", wasStored, res.Duplicate)
			}
		default:
			t.Fatalf("no expectation for fault point %s", point)
		}
	}
	for msgID, n := range countEvents(t, l) {
		if n != 1 {
			t.Errorf("after retries %s is in the log %d times", msgID, n)
		}
	}
}
