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

// The timeouts Serve sets on a server that has none, so slow clients cannot
// hold connections (and their goroutines and buffers) open forever. Every HTTP
// server hookmesh starts goes through Serve. Handlers that need longer (a live
// event stream, a webhook source's body_timeout) move their own deadline with
// http.ResponseController.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultReadTimeout bounds reading a whole request, headers and body.
	DefaultReadTimeout = 60 * time.Second
	// DefaultWriteTimeout bounds a request from the end of its headers to the
	// last byte of the answer.
	DefaultWriteTimeout = 60 * time.Second
	// DefaultIdleTimeout closes keep-alive connections with no request.
	DefaultIdleTimeout = 2 * time.Minute
)

// SetDefaults fills the timeouts srv leaves at zero.
func SetDefaults(srv *http.Server) {
	if srv.ReadHeaderTimeout == 0 {
		srv.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if srv.ReadTimeout == 0 {
		srv.ReadTimeout = DefaultReadTimeout
	}
	if srv.WriteTimeout == 0 {
		srv.WriteTimeout = DefaultWriteTimeout
	}
	if srv.IdleTimeout == 0 {
		srv.IdleTimeout = DefaultIdleTimeout
	}
}

// Serve serves srv on lis until ctx ends, then calls Shutdown (waiting up to
// ShutdownTimeout for in-flight requests, then Close). Timeouts srv leaves at
// zero get their defaults (SetDefaults). It returns nil after a shutdown
// caused by ctx, or the error that stopped the server.
func Serve(ctx context.Context, srv *http.Server, lis net.Listener) error {
	if srv == nil || lis == nil {
		return errors.New("httpserver: server and listener are required")
	}
	SetDefaults(srv)
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
