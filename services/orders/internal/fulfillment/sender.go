package fulfillment

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/hookmesh/hookmesh/services/orders/internal/orders"
	"github.com/hookmesh/hookmesh/services/orders/internal/outbox"
)

// Outbox is the store side of the sender. Claimed rows are leased: no one else
// sends them until the lease ends, after which an unrecorded attempt (a crash) is
// made again.
type Outbox interface {
	// ClaimNotifications leases up to limit pending notifications due at now until leaseUntil.
	ClaimNotifications(ctx context.Context, now, leaseUntil time.Time, limit int) ([]orders.Notification, error)
	// RecordNotificationAttempt stores one attempt's outcome (NextAt zero after a failure: give up).
	RecordNotificationAttempt(ctx context.Context, id string, a orders.Attempt) error
	// NextNotificationDue is when the earliest pending notification is due.
	NextNotificationDue(ctx context.Context) (time.Time, bool, error)
}

// Config configures a Sender.
type Config struct {
	// URL receives the webhooks (FULFILLMENT_WEBHOOK_URL). Required.
	URL string
	// Secret signs them, "whsec_<base64>" (FULFILLMENT_WEBHOOK_SECRET). Required.
	Secret string
	// MaxAttempts before a notification is marked failed. Default 10.
	MaxAttempts int
	// Backoff between attempts. Default 2s doubling up to 10m.
	Backoff outbox.Backoff
	// Timeout of one attempt. Default 10s.
	Timeout time.Duration
	// Poll is the longest wait between looks at the outbox. Default 5s.
	Poll time.Duration
	// Batch is how many notifications one step claims; they are sent in parallel. Default 8.
	Batch int
	// Client sends the requests. Default: an otelhttp-instrumented client.
	Client         *http.Client
	TracerProvider trace.TracerProvider
	Logger         *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 10
	}
	if c.Backoff == (outbox.Backoff{}) {
		c.Backoff = outbox.Backoff{Initial: 2 * time.Second, Max: 10 * time.Minute}
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Poll == 0 {
		c.Poll = 5 * time.Second
	}
	if c.Batch == 0 {
		c.Batch = 8
	}
	if c.TracerProvider == nil {
		c.TracerProvider = noop.NewTracerProvider()
	}
	if c.Client == nil {
		c.Client = &http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport, otelhttp.WithTracerProvider(c.TracerProvider))}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	u, err := url.Parse(c.URL)
	if c.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("fulfillment: URL must be an http(s) URL")
	}
	if _, err := NewSigner(c.Secret); err != nil {
		return fmt.Errorf("fulfillment: %w", err)
	}
	if c.MaxAttempts < 1 || c.Timeout <= 0 || c.Poll <= 0 || c.Batch < 1 {
		return errors.New("fulfillment: MaxAttempts, Timeout, Poll and Batch must be positive")
	}
	return c.Backoff.Validate()
}

// Sender delivers fulfillment notifications from the outbox.
type Sender struct {
	cfg    Config
	signer *Signer
	store  Outbox
	relay  *outbox.Relay
	tracer trace.Tracer
}

// New returns a Sender; call Run to start it.
func New(cfg Config, store Outbox) (*Sender, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, errors.New("fulfillment: outbox is required")
	}
	signer, err := NewSigner(cfg.Secret)
	if err != nil {
		return nil, fmt.Errorf("fulfillment: %w", err)
	}
	// A redirect would re-send the signed body to wherever the receiver points:
	// a 3xx is the answer, a failed attempt, whichever client was given.
	client := *cfg.Client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cfg.Client = &client
	s := &Sender{cfg: cfg, signer: signer, store: store, tracer: cfg.TracerProvider.Tracer("github.com/hookmesh/hookmesh/services/orders/internal/fulfillment")}
	s.relay, err = outbox.NewRelay("fulfillment", s.step, store.NextNotificationDue, cfg.Poll, cfg.Logger)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Wake makes the sender look at the outbox now (after a commit added a row).
func (s *Sender) Wake() { s.relay.Wake() }

// Run sends until ctx ends.
func (s *Sender) Run(ctx context.Context) error { return s.relay.Run(ctx) }

func (s *Sender) step(ctx context.Context) (bool, error) {
	// A claim cut by shutdown mid-commit may have committed anyway, leaving rows
	// leased with nobody to record them; a claim always finishes, and a shutdown
	// then ends in "interrupted" records that make them due at once.
	claimCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	now := s.cfg.Now()
	due, err := s.store.ClaimNotifications(claimCtx, now, now.Add(s.cfg.Timeout+30*time.Second), s.cfg.Batch)
	if err != nil {
		return false, err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(due))
	for i, n := range due {
		wg.Go(func() {
			a := s.Send(ctx, n)
			if ctx.Err() != nil && !a.Done {
				// Interrupted by shutdown: due again at once, not at the end of the lease.
				a = orders.Attempt{At: s.cfg.Now(), Error: "interrupted by shutdown", NextAt: s.cfg.Now()}
			}
			errs[i] = s.store.RecordNotificationAttempt(context.WithoutCancel(ctx), n.ID, a)
		})
	}
	wg.Wait()
	return len(due) == s.cfg.Batch, errors.Join(errs...)
}

// Send makes one attempt and says what to do next.
func (s *Sender) Send(ctx context.Context, n orders.Notification) orders.Attempt {
	ctx, span := s.tracer.Start(n.Trace.Context(ctx), "fulfillment.notify", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("hookmesh.order_id", n.OrderID), attribute.Int("hookmesh.attempt", n.Attempts+1)))
	defer span.End()
	code, err := s.post(ctx, n)
	a := orders.Attempt{At: s.cfg.Now(), StatusCode: code}
	if err == nil {
		a.Done = true
		s.cfg.Logger.InfoContext(ctx, "fulfillment webhook delivered", "notification_id", n.ID, "order_id", n.OrderID, "attempt", n.Attempts+1)
		return a
	}
	span.SetStatus(codes.Error, "fulfillment webhook failed")
	a.Error = err.Error()
	if n.Attempts+1 < s.cfg.MaxAttempts {
		a.NextAt = a.At.Add(s.cfg.Backoff.Delay(n.Attempts + 1))
	}
	s.cfg.Logger.WarnContext(ctx, "fulfillment webhook failed", "notification_id", n.ID, "order_id", n.OrderID,
		"attempt", n.Attempts+1, "status", code, "error", a.Error, "give_up", a.NextAt.IsZero())
	return a
}

func (s *Sender) post(ctx context.Context, n orders.Notification) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(n.Body))
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	ts, sig := s.signer.Headers(n.ID, s.cfg.Now(), n.Body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", n.ID)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", sig)
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // url.Error repeats the URL, which may carry a token
		}
		return 0, fmt.Errorf("post: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("receiver answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}
