package grpcapi_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/services/email/internal/email"
	"github.com/hookmesh/hookmesh/services/email/internal/grpcapi"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		want      codes.Code
		wantRetry time.Duration // 0: no RetryInfo
	}{
		{"nil", nil, codes.OK, 0},
		{"invalid", fmt.Errorf("users insert: %w: no usable address", email.ErrInvalid), codes.InvalidArgument, 0},
		{"not found", fmt.Errorf("message: %w", email.ErrNotFound), codes.NotFound, 0},
		{"smtp 5xx", fmt.Errorf("send: %w", email.ErrRejected), codes.FailedPrecondition, 0},
		{"not configured", fmt.Errorf("report: %w", email.ErrNotConfigured), codes.FailedPrecondition, 0},
		{"expired token", fmt.Errorf("token: %w", email.ErrExpired), codes.FailedPrecondition, 0},
		{"smtp 4xx", email.Retry(time.Minute, errors.New("smtp RCPT: 451")), codes.Unavailable, time.Minute},
		{"unavailable without delay", fmt.Errorf("x: %w", email.ErrUnavailable), codes.Unavailable, grpcapi.DefaultRetryDelay},
		{"deadline", fmt.Errorf("claim: %w", context.DeadlineExceeded), codes.DeadlineExceeded, 0},
		{"cancelled", fmt.Errorf("claim: %w", context.Canceled), codes.Canceled, 0},
		{"database", errors.New("record messages: connection reset"), codes.Internal, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := grpcapi.Status(tc.err)
			st := status.Convert(err)
			if st.Code() != tc.want {
				t.Fatalf("code %v, want %v", st.Code(), tc.want)
			}
			var got time.Duration
			for _, d := range st.Details() {
				if ri, ok := d.(*errdetails.RetryInfo); ok {
					got = ri.GetRetryDelay().AsDuration()
				}
			}
			if got != tc.wantRetry {
				t.Errorf("RetryInfo %v, want %v", got, tc.wantRetry)
			}
		})
	}
}
