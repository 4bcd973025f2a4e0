package httpserver_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/platform/httpserver"
)

func TestServeAndShutdown(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "done")
	})
	mux.HandleFunc("/fast", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	srv := &http.Server{Handler: mux}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + lis.Addr().String()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- httpserver.Serve(ctx, srv, lis) }()

	resp, err := http.Get(base + "/fast")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /fast = %d", resp.StatusCode)
	}
	if srv.ReadHeaderTimeout != httpserver.DefaultReadHeaderTimeout {
		t.Errorf("ReadHeaderTimeout = %v, want the default", srv.ReadHeaderTimeout)
	}

	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			slow <- "error: " + err.Error()
			return
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		slow <- string(b)
	}()
	<-entered
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Serve returned (%v) with a request in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if got := <-slow; got != "done" {
		t.Errorf("in-flight request got %q, want it to finish", got)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve = %v, want nil after ctx ended", err)
	}
	if resp, err := http.Get(base + "/fast"); err == nil {
		_ = resp.Body.Close()
		t.Error("server still accepts requests after shutdown")
	}
}

func TestServeErrors(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_ = closed.Close()
	tests := []struct {
		name string
		srv  *http.Server
		lis  net.Listener
	}{
		{"nil server", nil, closed},
		{"nil listener", &http.Server{}, nil},
		{"closed listener", &http.Server{}, closed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := httpserver.Serve(t.Context(), tc.srv, tc.lis); err == nil {
				t.Error("Serve returned nil, want an error")
			}
		})
	}
}

func TestSetDefaults(t *testing.T) {
	srv := &http.Server{WriteTimeout: time.Second}
	httpserver.SetDefaults(srv)
	if srv.ReadHeaderTimeout != httpserver.DefaultReadHeaderTimeout || srv.ReadTimeout != httpserver.DefaultReadTimeout ||
		srv.IdleTimeout != httpserver.DefaultIdleTimeout {
		t.Errorf("timeouts %v %v %v, want the defaults", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.IdleTimeout)
	}
	if srv.WriteTimeout != time.Second {
		t.Errorf("WriteTimeout = %v, want the one set (1s)", srv.WriteTimeout)
	}
}

// A client that opens a connection and sends half a request is cut off by the
// default timeouts rather than holding the connection.
func TestSlowClientIsClosed(t *testing.T) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}), ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 300 * time.Millisecond}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = httpserver.Serve(ctx, srv, lis) }()
	for _, partial := range []string{"POST / HTTP/1.1\r\nHost: x\r\n", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab"} {
		c, err := net.Dial("tcp", lis.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(c, partial)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		start := time.Now()
		_, _ = io.ReadAll(c) // ends when the server closes
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%q: connection held %v", partial, d)
		}
		_ = c.Close()
	}
}
