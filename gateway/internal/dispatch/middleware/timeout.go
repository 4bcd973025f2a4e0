package middleware

import (
	"context"
	"time"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
)

// Timeout gives every attempt its own deadline d; gRPC sends it to the consumer
// as grpc-timeout, so the consumer knows how long it has.
func Timeout(d time.Duration) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, req *consumerv1.DeliverRequest) error {
			ctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			return next(ctx, req)
		}
	}
}
