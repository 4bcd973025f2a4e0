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
