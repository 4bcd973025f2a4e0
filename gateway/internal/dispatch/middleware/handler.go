// Package middleware wraps the dispatcher's call to a consumer. A middleware is
// func(Handler) Handler, one per file. Retries are not a middleware: they live in
// the log (a parked retry message), so they survive a crash and hold no slot.
package middleware

import (
	"context"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
)

// Handler makes one delivery attempt. It returns nil when the consumer accepted
// the event, else an error carrying the gRPC status (status.FromError works on it).
type Handler func(ctx context.Context, req *consumerv1.DeliverRequest) error

// Middleware decorates a Handler.
type Middleware func(Handler) Handler

// Chain applies mws so that the first one is the outermost.
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}
