package gateway

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
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
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	t.Run("public admin listener", func(t *testing.T) {
		g := start(t, Config{AdminToken: longToken}, Deps{Registry: prometheus.NewRegistry(), AdminListener: publicListener(t)})
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
		deps Deps
	}{
		{"REST", Deps{AdminListener: publicListener(t)}},
		{"gRPC", Deps{GRPCListener: publicListener(t)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.deps.File, tc.deps.Secrets = testFile(t), secrets
			g, err := New(context.Background(), Config{HTTPAddr: "127.0.0.1:0", AdminToken: short, DataDir: t.TempDir()}, tc.deps)
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
	g, err := New(context.Background(), Config{HTTPAddr: "127.0.0.1:0", AdminToken: "t", DataDir: t.TempDir()}, Deps{File: testFile(t), Secrets: secrets})
	if err != nil {
		t.Fatalf("short token on loopback: %v", err)
	}
	g.Close()
}
