package email

import (
	"errors"
	"fmt"
	"time"
)

// Domain errors. internal/grpcapi maps them to gRPC codes in one function; wrap
// them with fmt.Errorf("…: %w", ErrX) to add detail.
var (
	// ErrInvalid: the event or request cannot be used, e.g. no usable address
	// (INVALID_ARGUMENT, dead letter).
	ErrInvalid = errors.New("invalid")
	// ErrNotFound: no such message (NOT_FOUND).
	ErrNotFound = errors.New("not found")
	// ErrRejected: the mail server refused the message for good, e.g. SMTP 5xx
	// (FAILED_PRECONDITION, dead letter; a replay tries again).
	ErrRejected = errors.New("rejected")
	// ErrNotConfigured: something the effect needs is not configured, e.g. report
	// recipients or the analytics client (FAILED_PRECONDITION).
	ErrNotConfigured = errors.New("not configured")
	// ErrExpired: a verification token is past its expiry (FAILED_PRECONDITION).
	ErrExpired = errors.New("expired")
	// ErrUnavailable: try again later, e.g. SMTP 4xx, a refused connection, the
	// analytics service down, or another delivery sending the same message right
	// now (UNAVAILABLE with RetryInfo).
	ErrUnavailable = errors.New("unavailable")
)

// RetryError is an ErrUnavailable that knows when a retry makes sense.
type RetryError struct {
	// After is the suggested delay before the next attempt.
	After time.Duration
	Err   error
}

// Error implements error.
func (e *RetryError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *RetryError) Unwrap() error { return e.Err }

// Is makes every RetryError an ErrUnavailable.
func (e *RetryError) Is(target error) bool { return target == ErrUnavailable }

// Retry marks err as temporary, suggesting a retry after the given delay.
func Retry(after time.Duration, err error) error {
	return &RetryError{After: after, Err: err}
}

// RetryAfter is the delay a temporary error suggests, or def when it has none.
func RetryAfter(err error, def time.Duration) time.Duration {
	var re *RetryError
	if errors.As(err, &re) && re.After > 0 {
		return re.After
	}
	return def
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
