package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hookmesh/hookmesh/platform/groupcommit"
	"github.com/hookmesh/hookmesh/services/analytics/internal/analytics"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestStatus(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		code      codes.Code
		retryInfo bool
	}{
		{"nil", nil, codes.OK, false},
		{"duplicate", fmt.Errorf("x: %w", analytics.ErrDuplicate), codes.AlreadyExists, false},
		{"invalid", fmt.Errorf("x: %w", analytics.ErrInvalid), codes.InvalidArgument, false},
		{"unavailable", fmt.Errorf("x: %w", analytics.ErrUnavailable), codes.Unavailable, true},
		{"closed", groupcommit.ErrClosed, codes.Unavailable, true},
		{"database", errors.New("commit transaction: disk I/O error"), codes.Unavailable, true},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), codes.DeadlineExceeded, false},
		{"cancelled", context.Canceled, codes.Canceled, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Status(tc.err)
			if got := status.Code(err); got != tc.code {
				t.Fatalf("code = %v, want %v", got, tc.code)
			}
			var info *errdetails.RetryInfo
			for _, d := range status.Convert(err).Details() {
				if ri, ok := d.(*errdetails.RetryInfo); ok {
					info = ri
				}
			}
			if (info != nil) != tc.retryInfo {
				t.Errorf("RetryInfo = %v, want present: %v", info, tc.retryInfo)
			}
			if info != nil && info.GetRetryDelay().AsDuration() != RetryDelay {
				t.Errorf("retry delay = %v", info.GetRetryDelay().AsDuration())
			}
		})
	}
}
