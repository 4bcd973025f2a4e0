// Package grpcapi exposes the analytics service over gRPC: the consumer contract
// (hookmesh.consumer.v1.EventConsumerService) and the read API
// (hookmesh.analytics.v1.AnalyticsService). Status is the one function that maps
// domain errors to gRPC codes.
package grpcapi

import (
	"context"
	"errors"
	"time"

	"github.com/hookmesh/hookmesh/platform/groupcommit"
	"github.com/hookmesh/hookmesh/services/analytics/internal/analytics"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// RetryDelay is suggested (google.rpc.RetryInfo) when the store cannot take an
// event now.
const RetryDelay = 2 * time.Second

// Status maps an error to a gRPC status error per the consumer contract:
// ErrDuplicate → ALREADY_EXISTS (done); ErrInvalid → INVALID_ARGUMENT (dead letter);
// ErrUnavailable and a closing committer → UNAVAILABLE with RetryInfo; context
// errors → DEADLINE_EXCEEDED / CANCELLED; anything else (a failed batch
// transaction, a read error) → UNAVAILABLE with RetryInfo, which is retried.
func Status(err error) error {
	if err == nil {
		return nil
	}
	var code codes.Code
	switch {
	case errors.Is(err, analytics.ErrDuplicate):
		code = codes.AlreadyExists
	case errors.Is(err, analytics.ErrInvalid):
		code = codes.InvalidArgument
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	default: // ErrUnavailable, groupcommit.ErrClosed, database errors
		if errors.Is(err, groupcommit.ErrClosed) {
			err = errors.New("analytics is shutting down")
		}
		st := status.New(codes.Unavailable, err.Error())
		withInfo, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(RetryDelay)})
		if derr != nil {
			return st.Err()
		}
		return withInfo.Err()
	}
	return status.Error(code, err.Error())
}
