package dispatch

import (
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Outcome is what a consumer's answer means for the delivery.
type Outcome int

// Outcomes of one attempt.
const (
	// Done: the consumer has the event (OK, ALREADY_EXISTS).
	Done Outcome = iota + 1
	// Retry: try again later, within the subscription's bound.
	Retry
	// Dead: terminal, dead-letter at once.
	Dead
)

func (o Outcome) String() string {
	switch o {
	case Done:
		return "done"
	case Retry:
		return "retry"
	case Dead:
		return "dead"
	}
	return "unknown"
}

// Classify maps a consumer's gRPC status code to an outcome, exactly as the
// consumer contract (hookmesh.consumer.v1) states it.
func Classify(c codes.Code) Outcome {
	switch c {
	case codes.OK, codes.AlreadyExists:
		return Done
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted,
		codes.Internal, codes.Unknown, codes.Canceled, codes.Unauthenticated:
		return Retry
	case codes.InvalidArgument, codes.FailedPrecondition, codes.PermissionDenied, codes.NotFound,
		codes.OutOfRange, codes.Unimplemented, codes.DataLoss:
		return Dead
	}
	// A code outside the contract is not the consumer's promise of anything: retry.
	return Retry
}

// retryHint returns the delay of a google.rpc.RetryInfo detail, if the status has one.
func retryHint(st *status.Status) *time.Duration {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			v := ri.GetRetryDelay().AsDuration()
			return &v
		}
	}
	return nil
}
