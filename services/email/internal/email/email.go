// Package email is the email service's domain: which event causes which message,
// the messages themselves, the seams to storage, transports and the analytics
// reports, and the domain errors that internal/grpcapi maps to gRPC codes.
package email

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Kind names the template a message is rendered from.
type Kind string

// The message kinds, one per demo route.
const (
	KindWelcome           Kind = "welcome"
	KindVerifyEmail       Kind = "verify_email"
	KindOrderConfirmation Kind = "order_confirmation"
	KindBackOrder         Kind = "back_order"
	KindDailyReport       Kind = "daily_report"
	KindWeeklyReport      Kind = "weekly_report"
)

// Kinds lists every kind, for tests and validation.
var Kinds = []Kind{KindWelcome, KindVerifyEmail, KindOrderConfirmation, KindBackOrder, KindDailyReport, KindWeeklyReport}

// Status is where a message is in its delivery.
type Status string

// Message statuses. A message being sent right now is queued and holds a lease.
const (
	StatusQueued Status = "queued"
	StatusSent   Status = "sent"
	StatusFailed Status = "failed"
)

// EventRef identifies the event that caused a message.
type EventRef struct {
	Source string
	ID     string
	Type   string
}

// Message is one email recorded for one event: the intent is stored, with its
// fully rendered bytes, before anything is sent, so a resend is byte-identical
// (same Message-ID, same Date).
type Message struct {
	// ID is stable for (event source, event id, kind): see MessageKey.
	ID string
	// MessageID is the RFC 5322 Message-ID without angle brackets.
	MessageID     string
	Kind          Kind
	Status        Status
	FailureReason string
	From          string
	To            []string
	Subject       string
	Event         EventRef
	TraceID       string
	Attempts      int
	Transport     string
	// Raw is the complete RFC 5322 message (headers and body, CRLF line ends).
	Raw       []byte
	CreatedAt time.Time
	UpdatedAt time.Time
	// SentAt is zero until a transport accepted the message.
	SentAt time.Time
}

// MessageKey derives a message's stable id from the event identity and the kind,
// so every delivery of the same event computes the same id and Message-ID.
func MessageKey(source, id string, kind Kind) string {
	h := sha256.New()
	for _, part := range []string{source, id, string(kind)} {
		// Length-prefixed, so ("a","bc") and ("ab","c") differ.
		var n [4]byte
		n[0], n[1], n[2], n[3] = byte(len(part)>>24), byte(len(part)>>16), byte(len(part)>>8), byte(len(part))
		h.Write(n[:])
		h.Write([]byte(part))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
