// Package webhook defines how one configured source turns a raw HTTP request into an
// event: verify the raw bytes first, then normalise. Each source kind (hasura, stripe,
// github, shopify, slack, standard_webhooks, hmac) implements Source.
package webhook

import (
	"net/http"
	"time"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// Request is an incoming webhook as received: headers and the exact body bytes.
type Request struct {
	Source      string      // configured source name, e.g. "stripe"
	Header      http.Header // as sent; look names up case-insensitively (http.Header.Get)
	Body        []byte      // raw bytes, never re-serialised
	ContentType string      // media type without parameters, lower-case
	URLQuery    string      // raw query string, for providers that sign it (none yet)
}

// Result is what a verified request becomes: an event to append, or a handshake to
// answer directly (Slack url_verification, GitHub ping) with nothing appended.
type Result struct {
	Event *eventv1.Event
	// Reply, when set, is written as the 200 response body instead of appending.
	Reply            []byte
	ReplyContentType string
	// AckEmpty, when Event is set, asks for an empty 200 body instead of the gateway's
	// JSON status once the event is appended (or found a duplicate): Slack shows a slash
	// command's response body to the user and reads a view_submission answer as
	// instructions for the modal.
	AckEmpty bool
}

// Source verifies and normalises requests of one configured source.
//
// Verify must run on the raw bytes before anything parses the body, compare in
// constant time, and return an *Error whose Code is one of the Code… constants.
// Normalize runs only after Verify succeeded; it returns an *Error (400) for bodies
// that are not this source's shape. The returned event has id, source, type, subject,
// time, datacontenttype, original_body and its typed payload set; the gateway fills
// received_time and the trace fields.
type Source interface {
	Verify(req *Request, now time.Time) error
	Normalize(req *Request) (Result, error)
}

// Error codes of DESIGN.md Promise 4, written as {"error": {"code": …}}.
const (
	CodeMalformedJSON        = "malformed_json"
	CodeInvalidPayload       = "invalid_payload"
	CodeMissingHeader        = "missing_header"
	CodeMalformedHeader      = "malformed_header"
	CodeUnsupportedScheme    = "unsupported_scheme"
	CodeTimestampExpired     = "timestamp_expired"
	CodeTimestampInFuture    = "timestamp_in_future"
	CodeSignatureMismatch    = "signature_mismatch"
	CodeUnknownSource        = "unknown_source"
	CodeBodyTooLarge         = "body_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeRateLimited          = "rate_limited"
	CodeLogUnavailable       = "log_unavailable"
	CodeRequestTimeout       = "request_timeout" // 408: the body did not arrive within the source's body_timeout
	CodeOverCapacity         = "over_capacity"   // 503: too many bodies in flight on the listener
)

// Error is a client-visible failure with its HTTP status and error code.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Unauthorized builds a 401 with one of the authentication codes.
func Unauthorized(code, message string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: code, Message: message}
}

// BadRequest builds a 400 (malformed_json or invalid_payload).
func BadRequest(code, message string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, Message: message}
}
