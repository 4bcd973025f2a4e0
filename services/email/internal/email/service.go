package email

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"sync"
	"time"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"go.opentelemetry.io/otel/trace"
)

// Outcome says what a delivery did.
type Outcome int

// Delivery outcomes.
const (
	// Ignored: the event has no effect here.
	Ignored Outcome = iota + 1
	// Applied: this delivery sent at least one message.
	Applied
	// AlreadyDone: every message of the event had been sent before (or, for an
	// event without messages, its directory change was applied before).
	AlreadyDone
	// DirectoryUpdated: the event changed the customer directory and has no
	// message (e.g. a users update that kept the address).
	DirectoryUpdated
)

// Config wires a Service.
type Config struct {
	// From is the sender (EMAIL_FROM); its domain also names Message-IDs.
	From      mail.Address
	Planner   *Planner
	Renderer  Renderer
	Store     Store
	Transport Transport
	// Lease bounds one send attempt; a delivery that finds another's lease waits
	// for it (within its own deadline). Default 2m.
	Lease time.Duration
	// Poll is how often a waiting delivery re-reads a message another process
	// is sending. Default 100ms.
	Poll time.Duration
	// Now is the clock; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Validate checks the config after defaults are filled.
func (c *Config) Validate() error {
	switch {
	case c.From.Address == "" || !strings.Contains(c.From.Address, "@"):
		return fmt.Errorf("from address: %w: need local@domain", ErrInvalid)
	case c.Planner == nil, c.Renderer == nil, c.Store == nil, c.Transport == nil:
		return fmt.Errorf("email service: %w: planner, renderer, store and transport are required", ErrInvalid)
	case c.Lease <= 0 || c.Poll <= 0:
		return fmt.Errorf("email service: %w: lease and poll must be positive", ErrInvalid)
	}
	return nil
}

// Service applies events: plan, render, record the intent once, send. User
// events also keep the customer directory (see directory.go) that addresses
// orders facts carrying only a customer_id.
//
// Once in effect: the messages of an event are recorded with
// processed_events(source, id) in one transaction before anything is sent, and
// each message is sent under a lease on its row, so redeliveries, replays and
// racing deliveries send it once. The one window no SMTP client can close: the
// server accepted DATA and the process died (or the database failed) before the
// row was marked sent. After the lease ends, the next delivery sends the stored
// bytes again with the same Message-ID, so receivers and MTAs that de-duplicate
// on Message-ID drop the second copy. The outbox transport has no such window
// (the file name is the message id).
type Service struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	inflight map[string]chan struct{}
}

// NewService fills defaults and validates cfg.
func NewService(cfg Config) (*Service, error) {
	if cfg.Lease == 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.Poll == 0 {
		cfg.Poll = 100 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if rw, ok := cfg.Transport.(Rewriter); ok && rw.Rewrites() {
		cfg.Lease = min(cfg.Lease, RewriteLease)
	}
	if cfg.Planner.Now == nil {
		cfg.Planner.Now = cfg.Now
	}
	if cfg.Planner.Customers == nil {
		cfg.Planner.Customers = cfg.Store
	}
	return &Service{cfg: cfg, log: cfg.Logger, inflight: map[string]chan struct{}{}}, nil
}

// Deliver applies one event. Errors wrap the domain errors (see errors.go).
func (s *Service) Deliver(ctx context.Context, ev *eventv1.Event) (Outcome, error) {
	if ev.GetSource() == "" || ev.GetId() == "" {
		return 0, invalidf("event needs a source and an id")
	}
	if !Handles(ev.GetType()) {
		return Ignored, nil
	}
	ref := EventRef{Source: ev.GetSource(), ID: ev.GetId(), Type: ev.GetType()}
	msgs, err := s.cfg.Store.ForEvent(ctx, ref.Source, ref.ID)
	if err != nil {
		return 0, fmt.Errorf("load messages: %w", err)
	}
	if len(msgs) == 0 {
		drafts, err := s.cfg.Planner.Plan(ctx, ev)
		if err != nil {
			return 0, err
		}
		dir := customerChange(ev, s.cfg.Now())
		if len(drafts) == 0 && dir == nil {
			return Ignored, nil
		}
		fresh, err := s.render(ctx, ref, drafts)
		if err != nil {
			return 0, err
		}
		first, err := s.cfg.Store.Record(ctx, ref, fresh, dir)
		if err != nil {
			return 0, fmt.Errorf("record messages: %w", err)
		}
		if len(fresh) == 0 {
			if !first {
				return AlreadyDone, nil
			}
			return DirectoryUpdated, nil
		}
		msgs = fresh
		if !first {
			// A racing delivery recorded first: send what it recorded.
			if msgs, err = s.cfg.Store.ForEvent(ctx, ref.Source, ref.ID); err != nil {
				return 0, fmt.Errorf("load messages: %w", err)
			}
		}
	}
	out := AlreadyDone
	var firstErr error
	for _, m := range msgs {
		sent, err := s.send(ctx, m)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if sent {
			out = Applied
		}
	}
	if firstErr != nil {
		return 0, firstErr
	}
	return out, nil
}

func (s *Service) render(ctx context.Context, ref EventRef, drafts []Draft) ([]*Message, error) {
	now := s.cfg.Now().UTC().Truncate(time.Second)
	domain := s.cfg.From.Address[strings.LastIndexByte(s.cfg.From.Address, '@')+1:]
	traceID := ""
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		traceID = sc.TraceID().String()
	}
	out := make([]*Message, 0, len(drafts))
	for _, d := range drafts {
		key := MessageKey(ref.Source, ref.ID, d.Kind)
		h := Header{From: s.cfg.From, MessageID: key + "@" + domain, Date: now, Event: ref}
		r, err := s.cfg.Renderer.Render(d, h)
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", d.Kind, err)
		}
		to := make([]string, len(d.To))
		for i, a := range d.To {
			to[i] = a.Address
		}
		out = append(out, &Message{
			ID: key, MessageID: h.MessageID, Kind: d.Kind, Status: StatusQueued,
			From: s.cfg.From.Address, To: to, Subject: r.Subject, Event: ref,
			TraceID: traceID, Raw: r.Raw, CreatedAt: now, UpdatedAt: now,
		})
	}
	return out, nil
}

// send sends m unless it was sent before; sent reports whether this call sent it.
func (s *Service) send(ctx context.Context, m *Message) (sent bool, err error) {
	if m.Status == StatusSent {
		return false, nil
	}
	for {
		c, err := s.cfg.Store.Claim(ctx, m.ID, s.cfg.Now(), s.cfg.Lease)
		if err != nil {
			return false, fmt.Errorf("claim message: %w", err)
		}
		if c.Held {
			return s.attempt(ctx, c)
		}
		if c.Message.Status == StatusSent {
			return false, nil
		}
		// Another delivery is sending it: wait for its outcome, then claim again
		// (a failed attempt may be retried here; a sent one ends the loop).
		if err := s.wait(ctx, m.ID, c.LeaseUntil); err != nil {
			return false, Retry(max(time.Second, c.LeaseUntil.Sub(s.cfg.Now())),
				fmt.Errorf("message %s: %w: another delivery is sending it", m.ID, ErrUnavailable))
		}
	}
}

func (s *Service) attempt(ctx context.Context, c Claim) (bool, error) {
	m := c.Message
	done := s.begin(m.ID)
	defer done()
	// A send never outlives its lease, so no other delivery can start while
	// this one may still be talking to the server.
	sendCtx, cancel := context.WithTimeout(ctx, s.cfg.Lease/2)
	err := s.cfg.Transport.Send(sendCtx, Envelope{ID: m.ID, MessageID: m.MessageID, From: m.From, To: m.To, Raw: m.Raw})
	cancel()
	a := Attempt{Status: StatusSent, Transport: s.cfg.Transport.Name(), At: s.cfg.Now()}
	if err != nil {
		a.Status, a.Reason = StatusFailed, err.Error()
	}
	// Record the outcome even when the caller's deadline has just passed.
	finishCtx, cancelFinish := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancelFinish()
	ferr := s.cfg.Store.Finish(finishCtx, c, a)
	attrs := []any{"message", m.ID, "kind", string(m.Kind), "event_source", m.Event.Source, "event_id", m.Event.ID, "transport", a.Transport, "attempt", m.Attempts}
	switch {
	case err != nil:
		// The reason may quote addresses: it goes to the store, not the log.
		s.log.WarnContext(ctx, "message not sent", append(attrs, "failure", failureClass(err))...)
		return false, classify(err)
	case ferr != nil:
		// The documented window: sent, not recorded. A retry resends the same bytes.
		s.log.ErrorContext(ctx, "message sent but not recorded", append(attrs, "error", ferr.Error())...)
		return true, Retry(s.cfg.Lease, fmt.Errorf("record sent message: %w: %w", ErrUnavailable, ferr))
	default:
		s.log.InfoContext(ctx, "message sent", attrs...)
		return true, nil
	}
}

// failureClass describes a transport error without its text (which may hold
// addresses), for logs.
func failureClass(err error) string {
	var coded interface{ SMTPCode() int }
	code := ""
	if errors.As(err, &coded) {
		code = fmt.Sprintf(" (smtp %d)", coded.SMTPCode())
	}
	switch {
	case errors.Is(err, ErrRejected):
		return "rejected" + code
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout" + code
	default:
		return "unavailable" + code
	}
}

// classify makes sure a transport error says whether to retry.
func classify(err error) error {
	if errors.Is(err, ErrRejected) || errors.Is(err, ErrUnavailable) {
		return err
	}
	return Retry(0, fmt.Errorf("%w: %w", ErrUnavailable, err))
}

// begin registers an in-process send of id; the returned func ends it and wakes
// waiters.
func (s *Service) begin(id string) func() {
	s.mu.Lock()
	ch := make(chan struct{})
	s.inflight[id] = ch
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		if s.inflight[id] == ch {
			delete(s.inflight, id)
		}
		s.mu.Unlock()
		close(ch)
	}
}

// wait blocks until an in-process send of id ends, a poll interval passes, or
// the lease ends; it fails only when ctx ends first.
func (s *Service) wait(ctx context.Context, id string, leaseUntil time.Time) error {
	s.mu.Lock()
	ch := s.inflight[id]
	s.mu.Unlock()
	d := min(s.cfg.Poll, max(leaseUntil.Sub(s.cfg.Now()), time.Millisecond))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch: // nil channel when the send is in another process: never ready
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// Verify checks a verification token and records its address as verified.
func (s *Service) Verify(ctx context.Context, token string) (TokenClaims, time.Time, error) {
	if s.cfg.Planner.Tokens == nil {
		return TokenClaims{}, time.Time{}, fmt.Errorf("verify: token secret: %w", ErrNotConfigured)
	}
	claims, err := s.cfg.Planner.Tokens.Verify(token, s.cfg.Now())
	if err != nil {
		return TokenClaims{}, time.Time{}, err
	}
	at, err := s.cfg.Store.MarkVerified(ctx, claims.UserID, claims.Email, s.cfg.Now().UTC())
	if err != nil {
		return TokenClaims{}, time.Time{}, fmt.Errorf("record verified address: %w", err)
	}
	return claims, at, nil
}

// Get returns one message.
func (s *Service) Get(ctx context.Context, id string) (*Message, error) {
	return s.cfg.Store.Get(ctx, id)
}

// List lists messages.
func (s *Service) List(ctx context.Context, f Filter) ([]*Message, string, error) {
	return s.cfg.Store.List(ctx, f)
}
