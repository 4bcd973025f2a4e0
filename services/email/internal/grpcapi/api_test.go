package grpcapi_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	emailv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/email/v1"
	"github.com/hookmesh/hookmesh/platform/logging"
	"github.com/hookmesh/hookmesh/services/email/internal/email"
	"github.com/hookmesh/hookmesh/services/email/internal/grpcapi"
)

// failingReader fails every call with err.
type failingReader struct{ err error }

func (f failingReader) Get(context.Context, string) (*email.Message, error) { return nil, f.err }
func (f failingReader) List(context.Context, email.Filter) ([]*email.Message, string, error) {
	return nil, "", f.err
}
func (f failingReader) Verify(context.Context, string) (email.TokenClaims, time.Time, error) {
	return email.TokenClaims{}, time.Time{}, f.err
}

// Issue 17: the database's error text reached REST callers as the INTERNAL
// message; now they get "internal error" and the log has the cause and trace.
func TestReadAPIHidesInternalErrors(t *testing.T) {
	const cause = "sqlite: disk I/O error at /var/lib/hookmesh/email.db"
	var logs bytes.Buffer
	api := grpcapi.NewAPI(failingReader{err: errors.New(cause)}, logging.New(&logs, "email"))
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(t.Context(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))

	_, err := api.GetMessage(ctx, &emailv1.GetMessageRequest{Id: "m-1"})
	if st := status.Convert(err); st.Code() != codes.Internal || st.Message() != "internal error" {
		t.Fatalf("GetMessage: %v, want INTERNAL \"internal error\"", err)
	}
	if !strings.Contains(logs.String(), cause) || !strings.Contains(logs.String(), tid.String()) {
		t.Fatalf("log lacks the cause or the trace id: %s", logs.String())
	}
	// The caller's own mistakes keep their message.
	api = grpcapi.NewAPI(failingReader{err: email.ErrNotFound}, nil)
	if _, err := api.GetMessage(ctx, &emailv1.GetMessageRequest{Id: "m-1"}); status.Code(err) != codes.NotFound {
		t.Fatalf("not found: %v", err)
	}
}
