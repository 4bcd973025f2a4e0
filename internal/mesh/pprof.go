package mesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/hookmesh/hookmesh/platform/browserguard"
	"github.com/hookmesh/hookmesh/platform/httpserver"
	"github.com/hookmesh/hookmesh/platform/restgw"
)

// pprofMaxSeconds is the longest CPU profile or trace one request may ask for
// (?seconds=N); the write timeout allows it.
const pprofMaxSeconds = 60

// listenPprof opens the opt-in profiling listener (HOOKMESH_PPROF_ADDR). Off
// loopback it needs the admin token, which every request must then carry.
func listenPprof(addr, token string) (net.Listener, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("HOOKMESH_PPROF_ADDR: %w", err)
	}
	if tcp, ok := lis.Addr().(*net.TCPAddr); token == "" && (!ok || !tcp.IP.IsLoopback()) {
		_ = lis.Close()
		return nil, fmt.Errorf("the profiling listener (HOOKMESH_PPROF_ADDR) listens on %s, which is not loopback: set HOOKMESH_ADMIN_TOKEN", lis.Addr())
	}
	return lis, nil
}

// pprofHandler serves net/http/pprof under /debug/pprof/, behind the Host check
// (a web page cannot reach it through a rebound name) and, with a token, bearer
// auth.
func pprofHandler(token string, allowedHosts []string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	var h http.Handler = mux
	if token != "" {
		h = restgw.BearerAuth(token)(h)
	}
	return browserguard.Hosts(allowedHosts)(h)
}

// servePprof serves the profiling listener until ctx ends.
func servePprof(ctx context.Context, lis net.Listener, token string, allowedHosts []string, logger *slog.Logger) {
	srv := &http.Server{
		Handler:           pprofHandler(token, allowedHosts),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      (pprofMaxSeconds + 5) * time.Second,
		IdleTimeout:       time.Minute,
	}
	if err := httpserver.Serve(ctx, srv, lis); err != nil && !errors.Is(err, context.Canceled) {
		logger.ErrorContext(ctx, "profiling listener stopped", "error", err.Error())
	}
}
