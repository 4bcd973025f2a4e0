// Package httpserver runs an *http.Server for the lifetime of a context.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// ShutdownTimeout bounds how long Serve waits for in-flight requests once its
// context ends; connections still open after it are closed.
const ShutdownTimeout = 10 * time.Second

// DefaultReadHeaderTimeout is set on a server that has no ReadHeaderTimeout,
// so slow clients cannot hold connections open forever.
const DefaultReadHeaderTimeout = 10 * time.Second

// Serve serves srv on lis until ctx ends, then calls Shutdown (waiting up to
// ShutdownTimeout for in-flight requests, then Close). It returns nil after a
// shutdown caused by ctx, or the error that stopped the server.
func Serve(ctx context.Context, srv *http.Server, lis net.Listener) error {
	if srv == nil || lis == nil {
		return errors.New("httpserver: server and listener are required")
	}
	if srv.ReadHeaderTimeout == 0 {
		srv.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()

	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	shutdownErr := srv.Shutdown(shutdownCtx)
	if shutdownErr != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	if shutdownErr != nil {
		return fmt.Errorf("shutdown http: %w", shutdownErr)
	}
	return nil
}
