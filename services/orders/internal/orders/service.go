package orders

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// ErrAborted: a concurrent transaction changed the same rows first; the caller
// retries and the effect then applies once.
var ErrAborted = errors.New("aborted by a concurrent change")

// Store keeps the service's state. Each Apply method is one transaction that
// records ref as processed together with its effect and returns ErrConflict when
// ref was processed before.
type Store interface {
	// ApplyStock applies an inventory change.
	ApplyStock(ctx context.Context, ref EventRef, c StockChange) error
	// ApplyOrder keeps the order's state (older changes do not overwrite newer
	// ones). When c completes the order and it has no shipment yet, it also takes
	// the items from stock and writes what plan returns (plan gets the customer's
	// email if known). When stock is short it writes nothing and returns an
	// *InsufficientStockError. fulfilled reports whether a shipment was created.
	ApplyOrder(ctx context.Context, ref EventRef, c OrderChange, plan func(email string) (Fulfilment, error)) (fulfilled bool, err error)
	// ApplyPayment records p unless the order's current payment supersedes it.
	ApplyPayment(ctx context.Context, ref EventRef, p Payment) error
	// ApplySubscription records a subscription's creation or deletion.
	ApplySubscription(ctx context.Context, ref EventRef, c SubscriptionChange) error
	// Bill writes the invoices build returns for m from the unbilled shipments and
	// the subscriptions, skipping customers already invoiced for m.
	Bill(ctx context.Context, ref EventRef, m Month, build func(unbilled []Shipment, subs []Subscription) []Invoice) ([]Invoice, error)
	// RecordFact adds a fact to the publish outbox (once per fact id).
	RecordFact(ctx context.Context, f Fact) error
}

// Reader answers the read API.
type Reader interface {
	GetOrder(ctx context.Context, id string) (Order, error)
	ListShipments(ctx context.Context, f ShipmentFilter, p Page) ([]Shipment, string, error)
	ListInvoices(ctx context.Context, f InvoiceFilter, p Page) ([]Invoice, string, error)
	ListNotifications(ctx context.Context, f NotificationFilter, p Page) ([]Notification, string, error)
	ListStock(ctx context.Context, p Page) ([]StockLevel, string, error)
}

// ServiceConfig configures a Service.
type ServiceConfig struct {
	Store Store
	// Wake is called after a commit that added outbox rows, so the publisher and
	// the fulfillment sender start at once instead of at their next poll. Optional.
	Wake func()
	// Now is the clock. Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Validate reports a configuration that cannot work.
func (c ServiceConfig) Validate() error {
	if c.Store == nil {
		return errors.New("orders service: Store is required")
	}
	return nil
}

// Service applies events to the orders domain.
type Service struct {
	cfg ServiceConfig
}

// NewService returns a Service.
func NewService(cfg ServiceConfig) (*Service, error) {
	if cfg.Wake == nil {
		cfg.Wake = func() {}
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
	return &Service{cfg: cfg}, nil
}

// ApplyStock applies an inventory change once.
func (s *Service) ApplyStock(ctx context.Context, ref EventRef, c StockChange) error {
	if c.SKU == "" {
		return Invalidf("inventory row has no sku")
	}
	if c.Op == StockSet && c.Quantity < 0 {
		return Invalidf("inventory quantity %d is negative", c.Quantity)
	}
	return s.cfg.Store.ApplyStock(ctx, ref, c)
}

// ApplyOrder keeps the order's state and fulfils it on its transition to
// completed. Short stock is a decision: the orders.stock.insufficient fact is
// published, nothing else is applied, and an error matching
// ErrInsufficientStock is returned (the delivery is dead-lettered; replay it
// after a restock).
func (s *Service) ApplyOrder(ctx context.Context, ref EventRef, c OrderChange) error {
	if err := c.Validate(); err != nil {
		return err
	}
	trace := TraceFromContext(ctx)
	fulfilled, err := s.cfg.Store.ApplyOrder(ctx, ref, c, func(email string) (Fulfilment, error) {
		if email == "" {
			email = c.New.CustomerEmail
		}
		return PlanFulfilment(*c.New, email, c.At, s.cfg.Now(), ref, trace)
	})
	var short *InsufficientStockError
	if errors.As(err, &short) {
		fact := StockInsufficientFact(short, short.Email, s.cfg.Now(), ref, trace)
		if ferr := s.cfg.Store.RecordFact(ctx, fact); ferr != nil {
			// Not recorded: answer a retryable error so the delivery comes back.
			return fmt.Errorf("record %s: %w", TypeStockInsufficient, ferr)
		}
		s.cfg.Wake()
		s.cfg.Logger.InfoContext(ctx, "order not fulfilled: insufficient stock",
			"order_id", short.Order.ID, "event_id", ref.ID, "short_skus", len(short.Shortages))
		return err
	}
	if err != nil {
		return err
	}
	if fulfilled {
		s.cfg.Wake()
		s.cfg.Logger.InfoContext(ctx, "order fulfilled", "order_id", c.New.ID, "event_id", ref.ID)
	}
	return nil
}

// ApplyPayment records a payment event once.
func (s *Service) ApplyPayment(ctx context.Context, ref EventRef, p Payment) error {
	if p.OrderID == "" {
		return Invalidf("payment has no order id")
	}
	if p.Status != PaymentSucceeded && p.Status != PaymentFailed {
		return Invalidf("payment status %q is not succeeded or failed", p.Status)
	}
	return s.cfg.Store.ApplyPayment(ctx, ref, p)
}

// ApplySubscription records a subscription change once.
func (s *Service) ApplySubscription(ctx context.Context, ref EventRef, c SubscriptionChange) error {
	if c.Subscription.ID == "" || c.Subscription.CustomerID == "" {
		return Invalidf("subscription has no id or customer")
	}
	return s.cfg.Store.ApplySubscription(ctx, ref, c)
}

// Bill invoices the month before scheduled: exactly one invoice per customer and
// month however often the tick is delivered.
func (s *Service) Bill(ctx context.Context, ref EventRef, scheduled time.Time) ([]Invoice, error) {
	if scheduled.IsZero() {
		return nil, Invalidf("billing tick has no scheduled time")
	}
	m := BillingMonth(scheduled)
	invs, err := s.cfg.Store.Bill(ctx, ref, m, func(unbilled []Shipment, subs []Subscription) []Invoice {
		return BuildInvoices(m, unbilled, subs, s.cfg.Now())
	})
	if err != nil {
		return nil, err
	}
	s.cfg.Logger.InfoContext(ctx, "billing run", "month", m.String(), "invoices", len(invs), "event_id", ref.ID)
	return invs, nil
}

// Validate checks what an order change must carry.
func (c OrderChange) Validate() error {
	row := c.Row()
	if row == nil {
		return Invalidf("order event has neither an old nor a new row")
	}
	for _, r := range []*OrderRow{c.Old, c.New} {
		if r == nil {
			continue
		}
		if r.ID == "" {
			return Invalidf("order row has no id")
		}
		if err := validateItems(r.Items); err != nil {
			return fmt.Errorf("order %s: %w", r.ID, err)
		}
	}
	if c.New != nil && c.New.CustomerID == "" {
		return Invalidf("order %s has no customer_id", c.New.ID)
	}
	if c.Old != nil && c.New != nil && c.Old.ID != c.New.ID {
		return Invalidf("order event changes the id from %s to %s", c.Old.ID, c.New.ID)
	}
	return nil
}

func validateItems(items []Item) error {
	for i, it := range items {
		if it.SKU == "" {
			return Invalidf("item %d has no sku", i)
		}
		if it.Quantity <= 0 {
			return Invalidf("item %d (%s) has quantity %d", i, it.SKU, it.Quantity)
		}
		if it.PriceCents < 0 {
			return Invalidf("item %d (%s) has a negative price", i, it.SKU)
		}
	}
	return nil
}
