package gateway

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookmesh/hookmesh/gateway/internal/config"
)

const longToken = "a-long-enough-admin-token"

// Issue 17: /metrics answered anyone on a public listener; now it needs the
// admin token there and stays open on loopback.
func TestMetricsNeedTheTokenOffLoopback(t *testing.T) {
	metricsStatus := func(t *testing.T, addr, token string) int {
		t.Helper()
		_, port, _ := net.SplitHostPort(addr)
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+port+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	t.Run("public admin listener", func(t *testing.T) {
		g := start(t, Config{AdminToken: longToken, AdminAddr: "0.0.0.0:0"}, Deps{Registry: prometheus.NewRegistry()})
		if s := metricsStatus(t, g.AdminAddr(), ""); s != http.StatusUnauthorized {
			t.Errorf("without the token: %d, want 401", s)
		}
		if s := metricsStatus(t, g.AdminAddr(), longToken); s != http.StatusOK {
			t.Errorf("with the token: %d, want 200", s)
		}
	})
	t.Run("loopback", func(t *testing.T) {
		g := start(t, Config{AdminToken: longToken}, Deps{Registry: prometheus.NewRegistry()})
		if s := metricsStatus(t, g.AdminAddr(), ""); s != http.StatusOK {
			t.Errorf("without the token on loopback: %d, want 200", s)
		}
	})
}

// Issue 17: a one-character admin token was accepted off loopback.
func TestShortAdminTokenRefusedOffLoopback(t *testing.T) {
	short := strings.Repeat("x", MinAdminTokenLength-1)
	for _, tc := range []struct {
		name string
		cfg  Config
		deps Deps
	}{
		{"REST", Config{AdminAddr: "0.0.0.0:0"}, Deps{}},
		{"gRPC", Config{}, Deps{GRPCListener: publicListener(t)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.deps.File, tc.deps.Secrets = testFile(t), secrets
			tc.cfg.HTTPAddr, tc.cfg.AdminToken, tc.cfg.DataDir = "127.0.0.1:0", short, t.TempDir()
			g, err := New(t.Context(), tc.cfg, tc.deps)
			if err == nil {
				g.Close()
				t.Fatal("a short token was accepted off loopback")
			}
			if !strings.Contains(err.Error(), strconv.Itoa(MinAdminTokenLength)) || strings.Contains(err.Error(), short) {
				t.Fatalf("error %q: want the minimum named and the token not", err)
			}
		})
	}
	// On loopback any token is the operator's choice.
	g, err := New(t.Context(), Config{HTTPAddr: "127.0.0.1:0", AdminToken: "t", DataDir: t.TempDir()}, Deps{File: testFile(t), Secrets: secrets})
	if err != nil {
		t.Fatalf("short token on loopback: %v", err)
	}
	g.Close()
}

// Issue 17, item 1, through the gateway's own listener: 200 connections that
// declare 1 MiB and trickle bytes are answered 408 request_timeout within the
// source's body_timeout, and a real sender is served meanwhile.
func TestSlowBodiesOnTheWebhookListener(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 200 connections")
	}
	const slow, timeout = 200, 2 * time.Second
	file, err := config.Parse([]byte(testConfig + "    body_timeout: 2s\n"))
	if err != nil {
		t.Fatal(err)
	}
	g := start(t, Config{}, Deps{File: file})
	addr := g.HTTPAddr()
	begin := time.Now()
	conns := make([]net.Conn, slow)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		if _, err := io.WriteString(c, "POST /hooks/ops HTTP/1.1\r\nHost: "+addr+"\r\nContent-Type: application/json\r\n"+
			"X-Ops-Secret: "+testSecret+"\r\nContent-Length: 1048576\r\n\r\n{"); err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() { // one more byte on every connection every 300 ms
		for {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
				for _, c := range conns {
					_, _ = c.Write([]byte(" "))
				}
			}
		}
	}()
	time.Sleep(200 * time.Millisecond)
	hook(t, addr, "hasura", "legit-during-attack", "users.insert")

	answers := map[string]int{}
	for _, c := range conns {
		_ = c.SetReadDeadline(begin.Add(timeout + 5*time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			answers["error"]++
			continue
		}
		var out struct{ Error struct{ Code string } }
		_ = json.NewDecoder(resp.Body).Decode(&out)
		_ = resp.Body.Close()
		answers[strconv.Itoa(resp.StatusCode)+" "+out.Error.Code]++
	}
	if answers["408 request_timeout"] != slow {
		t.Errorf("answers to %d slow bodies: %v", slow, answers)
	}
	if took := time.Since(begin); took > timeout+4*time.Second {
		t.Errorf("slow bodies answered after %v, body_timeout %v", took, timeout)
	}
}
