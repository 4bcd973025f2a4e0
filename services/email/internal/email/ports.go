package email

import (
	"context"
	"net/mail"
	"time"
)

// Renderer turns a draft into a complete RFC 5322 message. Implemented by
// internal/compose.
type Renderer interface {
	Render(d Draft, h Header) (Rendered, error)
}

// Header is what the renderer needs besides the draft; everything in it is
// fixed before the message is recorded, so a resend is byte-identical.
type Header struct {
	From      mail.Address
	MessageID string
	Date      time.Time
	Event     EventRef
}

// Rendered is a rendered message.
type Rendered struct {
	// Subject is the decoded subject line.
	Subject string
	// Raw is the whole message with CRLF line ends.
	Raw []byte
}

// Envelope is what a transport sends: SMTP's MAIL FROM / RCPT TO and the data.
type Envelope struct {
	// ID is the message's id in this service (outbox file name).
	ID        string
	MessageID string
	From      string
	To        []string
	Raw       []byte
}

// Transport hands a message to the mail system. Send must honour ctx's deadline.
// Errors: wrap ErrRejected when the server refused the message for good (SMTP
// 5xx) and ErrUnavailable (ideally as a RetryError) for anything temporary (SMTP
// 4xx, connection failures, timeouts); any other error counts as temporary.
type Transport interface {
	// Name is "smtp" or "outbox", recorded with each attempt.
	Name() string
	Send(ctx context.Context, env Envelope) error
}

// Rewriter is a Transport whose second send of a message replaces the first
// rather than adding one (the file outbox writes the same file again): a resend is
// harmless, so a crashed send's lease is kept short (RewriteLease).
type Rewriter interface {
	Rewrites() bool
}

// RewriteLease is the send lease with a Rewriter transport.
const RewriteLease = 10 * time.Second

// Intents stores what an event is to send, once per event.
type Intents interface {
	// Record marks the event processed, stores msgs (status queued) and applies
	// dir to the customer directory (when not nil) in one transaction. first is
	// false when the event was processed before; then nothing is stored or
	// applied and the earlier messages stand.
	Record(ctx context.Context, ev EventRef, msgs []*Message, dir *CustomerChange) (first bool, err error)
	// ForEvent returns the messages recorded for (source, id), oldest first.
	ForEvent(ctx context.Context, source, id string) ([]*Message, error)
}

// Claim is the result of trying to take a message for sending.
type Claim struct {
	// Held is true when this caller may send until LeaseUntil.
	Held bool
	// Token identifies this claim in Finish.
	Token string
	// LeaseUntil is when the current lease (this caller's or another's) ends.
	LeaseUntil time.Time
	// Message is the row as it is after the claim attempt.
	Message *Message
}

// Attempt is the outcome of one send.
type Attempt struct {
	Status    Status // StatusSent or StatusFailed
	Reason    string // why it failed
	Transport string
	At        time.Time
}

// Sends serialises the sending of one message across concurrent deliveries and
// processes with a lease on the message row.
type Sends interface {
	// Claim takes message id for sending until now+lease, unless it was sent
	// already or another caller holds an unexpired lease (Held false). Each
	// successful claim counts an attempt.
	Claim(ctx context.Context, id string, now time.Time, lease time.Duration) (Claim, error)
	// Finish records the attempt of a held claim and releases the lease. When
	// the lease was lost meanwhile (it expired and another caller claimed the
	// message) it records nothing and returns nil: the newer outcome stands.
	Finish(ctx context.Context, c Claim, a Attempt) error
}

// Filter selects messages in List.
type Filter struct {
	Status  Status // empty = any
	To      string // exact address, case-insensitive
	EventID string
	Since   time.Time // inclusive; zero = unbounded
	Until   time.Time // exclusive; zero = unbounded
	Limit   int
	// Cursor is the opaque position returned by the previous page.
	Cursor string
}

// Messages reads recorded messages.
type Messages interface {
	// Get returns one message or an error wrapping ErrNotFound.
	Get(ctx context.Context, id string) (*Message, error)
	// List returns messages newest first and the cursor of the next page ("" on
	// the last one). A malformed cursor wraps ErrInvalid.
	List(ctx context.Context, f Filter) ([]*Message, string, error)
}

// Verifications records verified addresses.
type Verifications interface {
	// MarkVerified records (userID, addr) as verified at `at` unless it was
	// before, and returns when it was first verified.
	MarkVerified(ctx context.Context, userID, addr string, at time.Time) (time.Time, error)
}

// Store is everything the service keeps (internal/store implements it on
// platform/sqlstore).
type Store interface {
	Intents
	Sends
	Messages
	Verifications
	Customers
}
