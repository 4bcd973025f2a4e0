// Package grpcapi exposes the orders service over gRPC: the EventConsumerService
// every consumer implements, and the OrdersService read API.
package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hookmesh/hookmesh/services/orders/internal/orders"
)

// toStatus is the one mapping from domain errors to gRPC status codes (and, through
// grpc-gateway, HTTP statuses). Under the consumer contract ALREADY_EXISTS is
// "done", INVALID_ARGUMENT and FAILED_PRECONDITION dead-letter at once, and
// ABORTED, DEADLINE_EXCEEDED, CANCELLED and INTERNAL are retried.
func toStatus(ctx context.Context, logger *slog.Logger, err error) error {
	var short *orders.InsufficientStockError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &short):
		st := status.New(codes.FailedPrecondition, short.Error())
		pf := &errdetails.PreconditionFailure{}
		for _, s := range short.Shortages {
			pf.Violations = append(pf.Violations, &errdetails.PreconditionFailure_Violation{
				Type: "STOCK", Subject: s.SKU,
				Description: fmt.Sprintf("requested %d, available %d", s.Requested, s.Available),
			})
		}
		if withDetails, derr := st.WithDetails(pf); derr == nil {
			st = withDetails
		}
		return st.Err()
	case errors.Is(err, orders.ErrConflict):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, orders.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, orders.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, orders.ErrAborted):
		return status.Error(codes.Aborted, "a concurrent change won; retry")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "cancelled")
	}
	// Storage and other internal errors: retryable, details only in the log.
	logger.ErrorContext(ctx, "request failed", "error", err.Error())
	return status.Error(codes.Internal, "internal error")
}
