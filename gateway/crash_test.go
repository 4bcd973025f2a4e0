package gateway

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const crashChildEnv = "HOOKMESH_GATEWAY_CRASH_CHILD"

// TestCrashSafety runs the gateway as a child process (this test binary re-executed),
// sends a few hundred concurrent webhooks, SIGKILLs it with requests in flight and
// restarts it on the same data dir: every event that got a 2xx is in the log exactly
// once, and re-sending it is answered duplicate (Promises 1 and 2).
func TestCrashSafety(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		runCrashChild(t, dir)
		return
	}
	if testing.Short() {
		t.Skip("short mode: skipping the crash test (SIGKILL)")
	}
	dir := t.TempDir()
	child := startChild(t, dir)

	const total, senders = 400, 64
	var (
		mu       sync.Mutex
		accepted = map[string]bool{}
		sent     atomic.Int64
		wg       sync.WaitGroup
		next     atomic.Int64
	)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	killAt := int64(150)
	killed := make(chan struct{})
	var killOnce sync.Once
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= total {
					return
				}
				id := fmt.Sprintf("crash-%04d", i)
				status, err := sendHook(client, child.addr, id)
				sent.Add(1)
				if err == nil && status >= 200 && status < 300 {
					mu.Lock()
					accepted[id] = true
					n := int64(len(accepted))
					mu.Unlock()
					if n >= killAt {
						killOnce.Do(func() {
							// SIGKILL while the other senders' requests are in flight.
							_ = child.cmd.Process.Signal(syscall.SIGKILL)
							close(killed)
						})
					}
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatalf("only %d of %d webhooks were accepted before the senders ran out", len(accepted), total)
	}
	_ = child.cmd.Wait()
	t.Logf("%d webhooks sent, %d accepted before SIGKILL", sent.Load(), len(accepted))

	restarted := startChild(t, dir)
	stored := listIDs(t, restarted.addr)
	for id := range accepted {
		if stored[id] != 1 {
			t.Errorf("accepted event %s is in the log %d times", id, stored[id])
		}
	}
	for id, n := range stored {
		if n != 1 {
			t.Errorf("event %s is in the log %d times", id, n)
		}
	}
	for id := range accepted {
		status, out := sendHookBody(client, restarted.addr, id)
		if status != http.StatusOK || !strings.Contains(out, `"status":"duplicate"`) {
			t.Errorf("re-sent %s: %d %s, want 200 duplicate", id, status, out)
		}
	}
	// Senders retry what got no answer: each lands once, whether or not it was stored.
	for i := range total {
		id := fmt.Sprintf("crash-%04d", i)
		if accepted[id] {
			continue
		}
		if status, out := sendHookBody(client, restarted.addr, id); status != http.StatusOK {
			t.Errorf("retry of %s: %d %s", id, status, out)
		}
	}
	final := listIDs(t, restarted.addr)
	if len(final) != total {
		t.Errorf("log holds %d distinct events, want %d", len(final), total)
	}
	for id, n := range final {
		if n != 1 {
			t.Errorf("after retries event %s is in the log %d times", id, n)
		}
	}
	_ = restarted.cmd.Process.Signal(syscall.SIGTERM)
	if err := restarted.cmd.Wait(); err != nil {
		t.Errorf("child after SIGTERM: %v", err)
	}
}

type childProc struct {
	cmd  *exec.Cmd
	addr string
}

func startChild(t *testing.T, dir string) *childProc {
	t.Helper()
	addrFile := filepath.Join(dir, "addr")
	_ = os.Remove(addrFile)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashSafety$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(addrFile); err == nil && strings.HasSuffix(string(b), "\n") {
			addr := strings.TrimSpace(string(b))
			if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return &childProc{cmd: cmd, addr: addr}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("child gateway not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runCrashChild is the child: a gateway on the data dir until SIGKILL or SIGTERM.
func runCrashChild(t *testing.T, dir string) {
	ctx, stop := signal.NotifyContext(t.Context(), syscall.SIGTERM)
	defer stop()
	g, err := New(ctx, Config{HTTPAddr: "127.0.0.1:0", DataDir: filepath.Join(dir, "data")},
		Deps{File: testFile(t), Secrets: secrets, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "addr"), []byte(g.HTTPAddr()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

func hookBody(id string) string {
	return `{"id":"` + id + `","table":{"schema":"public","name":"orders"},"trigger":{"name":"orders_all"},` +
		`"event":{"op":"INSERT","data":{"old":null,"new":{"id":1,"status":"new"}},"session_variables":null,"trace_context":null},` +
		`"delivery_info":{"current_retry":0,"max_retries":3},"created_at":"2024-05-01T09:30:00"}`
}

func sendHook(c *http.Client, addr, id string) (int, error) {
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/hooks/hasura", strings.NewReader(hookBody(id)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hasura-Webhook-Secret", testSecret)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func sendHookBody(c *http.Client, addr, id string) (int, string) {
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/hooks/hasura", strings.NewReader(hookBody(id)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hasura-Webhook-Secret", testSecret)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// listIDs pages through GET /v1/events and counts each id.
func listIDs(t *testing.T, addr string) map[string]int {
	t.Helper()
	ids := map[string]int{}
	token := ""
	for pages := 0; pages < 100; pages++ {
		q := url.Values{"page_size": {"1000"}, "source": {"hasura"}}
		if token != "" {
			q.Set("page_token", token)
		}
		status, body := get(t, "http://"+addr+"/v1/events?"+q.Encode(), "")
		if status != http.StatusOK {
			t.Fatalf("list events: %d %v", status, body)
		}
		events, _ := body["events"].([]any)
		for _, e := range events {
			ids[e.(map[string]any)["id"].(string)]++
		}
		if token, _ = body["next_page_token"].(string); token == "" {
			return ids
		}
	}
	t.Fatal("list events does not end")
	return nil
}
