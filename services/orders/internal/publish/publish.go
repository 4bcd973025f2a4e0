// Package publish relays the store's publish outbox to the gateway's
// PublisherService: each fact is written in its effect's transaction and
// published after commit, retried until acknowledged. Its id is stable, so a
// publish repeated after a crash is a duplicate at the gateway, not a second event.
package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/services/orders/internal/orders"
	"github.com/hookmesh/hookmesh/services/orders/internal/outbox"
)

// Outbox is the store side of the publisher; claimed rows are leased.
type Outbox interface {
	// ClaimFacts leases up to limit unpublished facts due at now until leaseUntil.
	ClaimFacts(ctx context.Context, now, leaseUntil time.Time, limit int) ([]orders.Fact, error)
	// RecordPublishAttempt stores one attempt's outcome.
	RecordPublishAttempt(ctx context.Context, id string, a orders.Attempt) error
	// NextFactDue is when the earliest unpublished fact is due.
	NextFactDue(ctx context.Context) (time.Time, bool, error)
}

// Config configures a Publisher.
type Config struct {
	// Client is the gateway's PublisherService. Required.
	Client eventv1.PublisherServiceClient
	// Backoff between attempts. Default 1s doubling up to 5m. There is no last
	// attempt: a fact is retried until the gateway acknowledges it.
	Backoff outbox.Backoff
	// Timeout of one Publish call. Default 10s.
	Timeout time.Duration
	// Poll is the longest wait between looks at the outbox. Default 5s.
	Poll time.Duration
	// Batch is how many facts one step claims; they are published in parallel. Default 16.
	Batch          int
	TracerProvider trace.TracerProvider
	Logger         *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Backoff == (outbox.Backoff{}) {
		c.Backoff = outbox.Backoff{Initial: time.Second, Max: 5 * time.Minute}
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Poll == 0 {
		c.Poll = 5 * time.Second
	}
	if c.Batch == 0 {
		c.Batch = 16
	}
	if c.TracerProvider == nil {
		c.TracerProvider = noop.NewTracerProvider()
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
	if c.Client == nil {
		return errors.New("publish: Client is required")
	}
	if c.Timeout <= 0 || c.Poll <= 0 || c.Batch < 1 {
		return errors.New("publish: Timeout, Poll and Batch must be positive")
	}
	return c.Backoff.Validate()
}

// Publisher relays the publish outbox.
type Publisher struct {
	cfg    Config
	store  Outbox
	relay  *outbox.Relay
	tracer trace.Tracer
}

// New returns a Publisher; call Run to start it.
func New(cfg Config, store Outbox) (*Publisher, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, errors.New("publish: outbox is required")
	}
	p := &Publisher{cfg: cfg, store: store, tracer: cfg.TracerProvider.Tracer("github.com/hookmesh/hookmesh/services/orders/internal/publish")}
	var err error
	p.relay, err = outbox.NewRelay("publish", p.step, store.NextFactDue, cfg.Poll, cfg.Logger)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Wake makes the publisher look at the outbox now.
func (p *Publisher) Wake() { p.relay.Wake() }

// Run publishes until ctx ends.
func (p *Publisher) Run(ctx context.Context) error { return p.relay.Run(ctx) }

func (p *Publisher) step(ctx context.Context) (bool, error) {
	// See fulfillment.Sender.step: the claim is never cut by shutdown.
	claimCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	now := p.cfg.Now()
	// The lease only has to outlast one call: publishing a fact twice is harmless
	// (the gateway de-duplicates on its event id), so a crash mid-publish delays
	// the fact by about Timeout, not more.
	due, err := p.store.ClaimFacts(claimCtx, now, now.Add(p.cfg.Timeout+time.Second), p.cfg.Batch)
	if err != nil {
		return false, err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(due))
	for i, f := range due {
		wg.Go(func() {
			a := p.Publish(ctx, f)
			if ctx.Err() != nil && !a.Done {
				// Interrupted by shutdown: due again at once, not at the end of the lease.
				a = orders.Attempt{At: p.cfg.Now(), Error: "interrupted by shutdown", NextAt: p.cfg.Now()}
			}
			errs[i] = p.store.RecordPublishAttempt(context.WithoutCancel(ctx), f.ID, a)
		})
	}
	wg.Wait()
	return len(due) == p.cfg.Batch, errors.Join(errs...)
}

// Publish makes one attempt and says what to do next.
func (p *Publisher) Publish(ctx context.Context, f orders.Fact) orders.Attempt {
	ctx, span := p.tracer.Start(f.Trace.Context(ctx), "orders.publish "+f.Type, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("hookmesh.event_type", f.Type), attribute.Int("hookmesh.attempt", f.Attempts+1)))
	defer span.End()
	ev, err := Event(ctx, f)
	a := orders.Attempt{}
	if err == nil {
		cctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
		var resp *eventv1.PublishResponse
		resp, err = p.cfg.Client.Publish(cctx, &eventv1.PublishRequest{Event: ev})
		cancel()
		if err == nil {
			a.Done, a.At = true, p.cfg.Now()
			p.cfg.Logger.InfoContext(ctx, "event published", "event_id", f.ID, "type", f.Type, "duplicate", resp.GetDuplicate())
			return a
		}
	}
	a.At = p.cfg.Now()
	a.Error = err.Error()
	a.NextAt = a.At.Add(p.delay(err, f.Attempts+1))
	span.SetStatus(otelcodes.Error, "publish failed")
	p.cfg.Logger.WarnContext(ctx, "publish failed, will retry", "event_id", f.ID, "type", f.Type,
		"attempt", f.Attempts+1, "code", status.Code(err).String(), "error", a.Error)
	return a
}

// delay honours the gateway's RetryInfo, within the back-off's cap.
func (p *Publisher) delay(err error, attempt int) time.Duration {
	d := p.cfg.Backoff.Delay(attempt)
	if st, ok := status.FromError(err); ok {
		for _, det := range st.Details() {
			if ri, ok := det.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
				d = min(max(ri.GetRetryDelay().AsDuration(), 0), p.cfg.Backoff.Max)
			}
		}
	}
	return d
}

// Event builds the envelope of a fact: source "orders", a ServiceFact payload and
// the trace context of ctx.
func Event(ctx context.Context, f orders.Fact) (*eventv1.Event, error) {
	data, err := structpb.NewValue(f.Data)
	if err != nil {
		return nil, fmt.Errorf("encode fact %s: %w", f.ID, err)
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	fact := &eventv1.ServiceFact{Service: orders.Source, Data: data}
	if f.CausedBy.ID != "" {
		fact.CausedBy = &eventv1.EventRef{Source: f.CausedBy.Source, Id: f.CausedBy.ID}
	}
	ev := &eventv1.Event{
		Id:              f.ID,
		Source:          orders.Source,
		Type:            f.Type,
		Subject:         f.Subject,
		Datacontenttype: "application/json",
		Traceparent:     carrier.Get("traceparent"),
		Tracestate:      carrier.Get("tracestate"),
		Payload:         &eventv1.Event_Fact{Fact: fact},
	}
	if !f.Time.IsZero() {
		ev.Time = timestamppb.New(f.Time)
	}
	return ev, nil
}
