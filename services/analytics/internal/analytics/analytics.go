// Package analytics is the analytics domain: what a routed event contributes to the
// figures (Track), and the questions asked of them (Service: counts per type, distinct
// users, daily and weekly reports). Storage and transport live in internal/store,
// platform/groupcommit and internal/grpcapi.
package analytics

import (
	"errors"
	"time"
)

// Domain errors; internal/grpcapi maps them to gRPC codes in one place.
var (
	// ErrInvalid marks input that can never be applied (a malformed event, a bad
	// query). For a delivery it means dead letter at once.
	ErrInvalid = errors.New("invalid")
	// ErrDuplicate means the event (source, id) was applied before: done, no effect.
	ErrDuplicate = errors.New("already processed")
	// ErrUnavailable means the store cannot take the event now; retry later.
	ErrUnavailable = errors.New("unavailable")
)

// Tracked names: the business facts derived from events, counted next to the event
// types. They contain no dot, so they never collide with an event type.
const (
	UserRegistered        = "user_registered"
	UserEmailChanged      = "user_email_changed"
	UserNameChanged       = "user_name_changed"
	OrderCompleted        = "order_completed"
	PaymentSucceeded      = "payment_succeeded"
	PaymentFailed         = "payment_failed"
	SubscriptionCreated   = "subscription_created"
	SubscriptionCancelled = "subscription_cancelled"
)

// Metric is one tracked fact of an event.
type Metric struct {
	// Name is one of the tracked names above.
	Name string
	// AmountCents is money in hundredths (order totals); zero when none.
	AmountCents int64
	// Items is a number of items (order line quantities); zero when none.
	Items int64
}

// Record is everything one event contributes: the raw row kept until retention, the
// count of its type, its tracked facts and the users it shows active.
type Record struct {
	// Source and EventID identify the event; it is applied once per pair.
	Source  string
	EventID string
	// Type is the event type as routed; every event is counted under it.
	Type string
	// Name is the first tracked name, or Type when the event tracks nothing.
	Name string
	// OccurredAt is when the event happened (event time, else receive time).
	OccurredAt time.Time
	// Metrics are the tracked facts, in a stable order.
	Metrics []Metric
	// UserIDs are the users the event shows active, without duplicates.
	UserIDs []string
	// Properties are stored with the raw event (JSON object).
	Properties map[string]any
	// CleanupBefore, when set, asks to delete raw events that occurred before it
	// (the cron.cleanup tick). Aggregates are kept.
	CleanupBefore time.Time
}

// HourStart is the UTC hour the record is counted in.
func (r Record) HourStart() time.Time { return r.OccurredAt.UTC().Truncate(time.Hour) }
