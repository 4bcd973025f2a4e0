package dispatch

import (
	"errors"
	"fmt"
)

// Kinds of failure of the operations the admin API calls; test with errors.Is.
// gateway/internal/admin maps each to one gRPC code.
var (
	// ErrInvalid: the request cannot be served as given (a missing id, a bad name,
	// a malformed page token).
	ErrInvalid = errors.New("dispatch: invalid")
	// ErrNotFound: no such subscription, event, dead letter or replay job.
	ErrNotFound = errors.New("dispatch: not found")
	// ErrConflict: the request is ambiguous or does not fit the current state
	// (an event id found in several sources).
	ErrConflict = errors.New("dispatch: conflict")
	// ErrUnavailable: the log or a bucket cannot answer now; retry later.
	ErrUnavailable = errors.New("dispatch: unavailable")
	// ErrCorrupt: a stored record cannot be decoded.
	ErrCorrupt = errors.New("dispatch: corrupt")
)

// Error is a failed operation: Kind is one of the Err* values above, Msg says
// what failed in words fit for an operator, Err is the cause (if any).
type Error struct {
	Kind error
	Msg  string
	Err  error
}

func (e *Error) Error() string { return e.Msg }

// Is matches the kind, so errors.Is(err, ErrNotFound) works through wrapping.
func (e *Error) Is(target error) bool { return target == e.Kind }

func (e *Error) Unwrap() error { return e.Err }

func newError(kind, cause error, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...), Err: cause}
}

func invalid(format string, args ...any) error { return newError(ErrInvalid, nil, format, args...) }

func notFound(format string, args ...any) error { return newError(ErrNotFound, nil, format, args...) }

func conflict(format string, args ...any) error { return newError(ErrConflict, nil, format, args...) }

// unavailable is "<what>: <cause>" of kind ErrUnavailable.
func unavailable(cause error, what string) error {
	return newError(ErrUnavailable, cause, "%s: %v", what, cause)
}

// corrupt is "<what>: <cause>" of kind ErrCorrupt.
func corrupt(cause error, what string) error {
	return newError(ErrCorrupt, cause, "%s: %v", what, cause)
}

// internal is a failure no caller can act on ("<what>: <cause>"); no kind.
func internal(cause error, what string) error {
	return fmt.Errorf("%s: %w", what, cause)
}
