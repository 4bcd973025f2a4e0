package dispatch

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/hookmesh/hookmesh/gateway/internal/config"
)

// Subscription routes events to one EventConsumerService target.
//
// Changing the subscription list between starts has this effect (every gateway
// process applies it when it starts):
//
//   - A changed subscription keeps its durable JetStream consumers (events and
//     retries) and its backlog; they are updated in place (ack wait, max ack pending).
//     Events, Filter, Retry, Timeout and Target take effect for every message handled
//     after the start, including retries already parked under the old settings (their
//     attempt count is kept; the new bound applies).
//   - A new subscription gets a consumer that starts where StartFrom says: at the
//     end of the log (new, the default), at its first retained event (all) or at
//     the first event received at or after a time. Only its own consumer reads the
//     history, so no other subscription sees anything again. StartFrom applies
//     only when the consumer is created: changing it on an existing subscription
//     does nothing (logged at info); delete the consumer (remove the subscription
//     with PruneRemoved, or rename it) to start over, or use a bulk replay.
//   - A removed subscription's consumers are kept, with their position, and reported
//     (a warning at start and [Dispatcher.Orphans]) so that re-adding it resumes where
//     it stopped. With [Config.PruneRemoved] they are deleted at start together with
//     its parked retries; its dead letters and delivery states are kept.
type Subscription struct {
	// Name is unique, letters, digits, '_' and '-': it names consumers and subjects.
	Name string
	// Target is builtin:<service> (resolved through Config.Conns or Config.Addrs),
	// host:port, or dns:///name:port (round-robin over every resolved address).
	Target string
	// TLS, when set, dials host:port and dns:/// targets with TLS.
	TLS *TLS
	// Token, when set, is sent as "authorization: Bearer <token>" to targets the
	// dispatcher dials (not to Config.Conns, which carry their own).
	Token string
	// Events are type globs; "*" matches any run of characters including dots.
	Events []string
	// Filter is an optional CEL expression over `event` (the protojson form of the
	// Event with proto field names); empty means every event of a matching type.
	Filter string
	// Retry bounds the attempts and sets the delays between them.
	Retry RetryPolicy
	// Timeout is the deadline of one attempt (default 30s).
	Timeout time.Duration
	// MaxInFlight bounds concurrent attempts of this subscription per gateway and
	// the unacknowledged messages of its event consumer cluster-wide (default 64).
	MaxInFlight int
	// StartFrom is "new" (or empty), "all" or an RFC 3339 time not in the future
	// (config.ParseStartFrom); it is read only when the event consumer is created.
	// A backfill is bounded by MaxInFlight like live delivery, sharing its slots.
	StartFrom string
	// Breaker, when set, stops calling a target that keeps failing for a while.
	Breaker *Breaker
	// Batch groups attempts ready together into DeliverBatch calls (batch.go).
	Batch Batch
}

// TLS configures TLS to a target.
type TLS struct {
	// CAFile verifies the server; empty uses the system roots.
	CAFile string
	// CertFile and KeyFile are the client certificate, for mutual TLS.
	CertFile, KeyFile string
	// ServerName overrides the name checked in the server certificate.
	ServerName string
}

// Breaker opens after Failures consecutive retryable failures and fails attempts
// fast (UNAVAILABLE, counted as attempts) for Cooldown before trying one again.
type Breaker struct {
	Failures int
	Cooldown time.Duration
}

// Retry policy names.
const (
	PolicyFixed       = "fixed"
	PolicyExponential = "exponential"
)

// RetryPolicy is either Hasura-compatible fixed retries or exponential backoff with
// full jitter and a cap.
type RetryPolicy struct {
	// Policy is "fixed" or "exponential" (default exponential).
	Policy string
	// NumRetries (fixed) is the number of retries after the first attempt, as in
	// Hasura's retry_conf: total attempts = NumRetries+1.
	NumRetries int
	// Interval (fixed) is the delay between attempts (default 10s).
	Interval time.Duration
	// MaxAttempts (exponential) counts the first attempt (default 8).
	MaxAttempts int
	// Initial (exponential) caps the first retry's delay (default 1s).
	Initial time.Duration
	// Max (exponential) caps every delay (default 10m).
	Max time.Duration
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (s *Subscription) setDefaults() {
	if s.Timeout == 0 {
		s.Timeout = 30 * time.Second
	}
	if s.MaxInFlight == 0 {
		s.MaxInFlight = 64
	}
	if s.Batch.MaxEvents == 0 {
		s.Batch.MaxEvents = DefaultBatchMaxEvents
	}
	if s.Retry.Policy == "" {
		s.Retry.Policy = PolicyExponential
	}
	switch s.Retry.Policy {
	case PolicyFixed:
		if s.Retry.Interval == 0 {
			s.Retry.Interval = 10 * time.Second
		}
	case PolicyExponential:
		if s.Retry.MaxAttempts == 0 {
			s.Retry.MaxAttempts = 8
		}
		if s.Retry.Initial == 0 {
			s.Retry.Initial = time.Second
		}
		if s.Retry.Max == 0 {
			s.Retry.Max = 10 * time.Minute
		}
	}
}

// Validate reports every problem of the subscription, naming it.
func (s *Subscription) Validate() error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("subscription %q: "+format, append([]any{s.Name}, args...)...))
	}
	if !nameRE.MatchString(s.Name) {
		add("name must be 1-64 letters, digits, '_' or '-'")
	}
	if err := checkTarget(s.Target); err != nil {
		add("target: %w", err)
	}
	if len(s.Events) == 0 {
		add("events: at least one type glob is required")
	}
	for _, g := range s.Events {
		if strings.TrimSpace(g) == "" || strings.ContainsAny(g, " \t\n") {
			add("events: invalid glob %q", g)
		}
	}
	if s.Timeout < 0 {
		add("timeout must be positive")
	}
	if s.MaxInFlight < 0 {
		add("max_in_flight must be positive")
	}
	if s.Breaker != nil && (s.Breaker.Failures < 1 || s.Breaker.Cooldown <= 0) {
		add("breaker needs failures >= 1 and a positive cooldown")
	}
	if _, _, err := config.ParseStartFrom(s.StartFrom, time.Now()); err != nil {
		add("%w", err)
	}
	if s.Batch.MaxEvents < 0 || s.Batch.MaxEvents > MaxBatchMaxEvents {
		add("batch: max_events must be between 1 and %d", MaxBatchMaxEvents)
	}
	if s.Batch.MaxWait < 0 || s.Batch.MaxWait > MaxBatchMaxWait {
		add("batch: max_wait must be between 0 and %s", MaxBatchMaxWait)
	}
	if err := s.Retry.validate(); err != nil {
		add("retry: %w", err)
	}
	return errors.Join(errs...)
}

func (p RetryPolicy) validate() error {
	switch p.Policy {
	case PolicyFixed:
		if p.NumRetries < 0 {
			return errors.New("num_retries must not be negative")
		}
		if p.Interval < 0 {
			return errors.New("interval must not be negative")
		}
		if p.MaxAttempts != 0 || p.Initial != 0 || p.Max != 0 {
			return errors.New("max_attempts, initial and max belong to the exponential policy")
		}
	case PolicyExponential:
		if p.MaxAttempts < 1 {
			return errors.New("max_attempts must be at least 1")
		}
		if p.Initial <= 0 || p.Max <= 0 {
			return errors.New("initial and max must be positive")
		}
		if p.Max < p.Initial {
			return errors.New("max must not be below initial")
		}
		if p.NumRetries != 0 || p.Interval != 0 {
			return errors.New("num_retries and interval belong to the fixed policy")
		}
	default:
		return fmt.Errorf("unknown policy %q (want fixed or exponential)", p.Policy)
	}
	return nil
}

func checkTarget(t string) error {
	switch {
	case t == "":
		return errors.New("required")
	case strings.HasPrefix(t, "builtin:"):
		if strings.TrimPrefix(t, "builtin:") == "" {
			return errors.New("builtin: needs a service name")
		}
	case strings.HasPrefix(t, "dns:///"):
		if strings.TrimPrefix(t, "dns:///") == "" {
			return errors.New("dns:/// needs name:port")
		}
	case strings.Contains(t, "://"):
		return fmt.Errorf("unsupported scheme in %q (want builtin:, host:port or dns:///)", t)
	case !strings.Contains(t, ":"):
		return fmt.Errorf("%q lacks a port", t)
	}
	return nil
}
