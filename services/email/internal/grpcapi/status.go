// Package grpcapi exposes the email service over gRPC: the consumer contract
// (hookmesh.consumer.v1.EventConsumerService) and the read API
// (hookmesh.email.v1.EmailService). Domain errors become gRPC codes in Status,
// the one mapping function.
package grpcapi

import (
	"context"
	"errors"
	"time"

	"github.com/hookmesh/hookmesh/services/email/internal/email"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// DefaultRetryDelay is suggested for temporary failures that name no delay.
const DefaultRetryDelay = 5 * time.Second

// Status maps an error to a gRPC status error per the consumer contract:
// ErrInvalid → INVALID_ARGUMENT; ErrNotFound → NOT_FOUND; ErrRejected (SMTP
// 5xx), ErrNotConfigured and ErrExpired → FAILED_PRECONDITION; ErrUnavailable
// (SMTP 4xx, connection failures, analytics down, a concurrent send) →
// UNAVAILABLE with a google.rpc.RetryInfo; context errors → DEADLINE_EXCEEDED /
// CANCELLED; anything else (e.g. the database) → INTERNAL, which is retried.
func Status(err error) error {
	if err == nil {
		return nil
	}
	var code codes.Code
	switch {
	case errors.Is(err, email.ErrInvalid):
		code = codes.InvalidArgument
	case errors.Is(err, email.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, email.ErrRejected), errors.Is(err, email.ErrNotConfigured), errors.Is(err, email.ErrExpired):
		code = codes.FailedPrecondition
	case errors.Is(err, email.ErrUnavailable):
		st := status.New(codes.Unavailable, err.Error())
		withInfo, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(email.RetryAfter(err, DefaultRetryDelay))})
		if derr != nil {
			return st.Err()
		}
		return withInfo.Err()
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	default:
		code = codes.Internal
	}
	return status.Error(code, err.Error())
}
