// Package orders holds the orders service's domain: orders and their completion,
// stock, payments, subscriptions, monthly invoices, shipments, and the follow-up
// facts and fulfillment notifications an order's completion produces. Storage and
// transport live in internal/store and internal/grpcapi.
package orders

import (
	"time"
)

// Consumer is the name under which processed events are recorded.
const Consumer = "orders"

// Source is the source of the events this service publishes.
const Source = "orders"

// Published event types.
const (
	TypeShipmentCreated   = "orders.shipment.created"
	TypeStockInsufficient = "orders.stock.insufficient"
)

// StatusCompleted is the order status whose arrival completes an order.
const StatusCompleted = "completed"

// EventRef is an event's identity.
type EventRef struct {
	Source string
	ID     string
}

// Item is one order line.
type Item struct {
	SKU        string
	Quantity   int64
	PriceCents int64
}

// OrderRow is an orders table row as carried by a Hasura event.
type OrderRow struct {
	ID         string
	CustomerID string
	// CustomerEmail is the row's customer_email (or email) column, if the table has one.
	CustomerEmail string
	Status        string
	Items         []Item
	TotalCents    int64
	CreatedAt     time.Time
}

// Op is the row operation of a table event.
type Op int

// Row operations.
const (
	OpInsert Op = iota + 1
	OpUpdate
	OpDelete
	OpManual
)

// OrderChange is one hasura.public.orders.* event.
type OrderChange struct {
	Op Op
	// Old is the row before the change; nil for INSERT and MANUAL.
	Old *OrderRow
	// New is the row after the change; nil for DELETE.
	New *OrderRow
	// At is when the change happened; later changes win over earlier ones.
	At time.Time
}

// Row is the row the change is about (New, or Old for a delete).
func (c OrderChange) Row() *OrderRow {
	if c.New != nil {
		return c.New
	}
	return c.Old
}

// Completes reports whether the change is the transition to completed:
// old.status != new.status && new.status == "completed". A later update of a
// completed order is not one (and the unique shipment per order backs this up).
func (c OrderChange) Completes() bool {
	if c.New == nil || c.New.Status != StatusCompleted {
		return false
	}
	return c.Old == nil || c.Old.Status != c.New.Status
}

// PaymentStatus is the payment state of an order.
type PaymentStatus string

// Payment states.
const (
	PaymentPending   PaymentStatus = "pending"
	PaymentSucceeded PaymentStatus = "succeeded"
	PaymentFailed    PaymentStatus = "failed"
)

// Payment is what the payment provider said about an order's payment.
type Payment struct {
	OrderID         string
	Status          PaymentStatus
	PaymentIntentID string
	AmountCents     int64
	Currency        string
	FailureMessage  string
	// ReceiptEmail is the PaymentIntent's receipt_email, used as the customer's email.
	ReceiptEmail string
	// At is when the provider created the event.
	At time.Time
}

// Supersedes reports whether p replaces cur. Stripe events arrive in any order:
// a success stays (a payment intent cannot fail after succeeding), otherwise the
// newer event wins.
func (p Payment) Supersedes(cur Payment) bool {
	if cur.Status == "" || cur.Status == PaymentPending {
		return true
	}
	if cur.Status == PaymentSucceeded && p.Status != PaymentSucceeded {
		return false
	}
	if p.Status == PaymentSucceeded && cur.Status != PaymentSucceeded {
		return true
	}
	return !p.At.Before(cur.At)
}

// Order is the read model: the last applied row with payment and shipment.
type Order struct {
	OrderRow
	UpdatedAt time.Time
	DeletedAt time.Time
	Payment   Payment
	Shipment  *Shipment
}

// Shipment is the one shipment of a completed order.
type Shipment struct {
	ID             string
	OrderID        string
	CustomerID     string
	TrackingNumber string
	Items          []Item
	TotalCents     int64
	CompletedAt    time.Time
	CreatedAt      time.Time
	InvoiceID      string
}

// NotificationStatus is the delivery state of a fulfillment notification.
type NotificationStatus string

// Notification states.
const (
	NotificationPending   NotificationStatus = "pending"
	NotificationDelivered NotificationStatus = "delivered"
	NotificationFailed    NotificationStatus = "failed"
)

// Notification is one fulfillment webhook and its delivery state.
type Notification struct {
	ID             string
	OrderID        string
	ShipmentID     string
	Body           []byte
	Trace          Trace
	Status         NotificationStatus
	Attempts       int
	LastError      string
	LastStatusCode int
	NextAttemptAt  time.Time
	DeliveredAt    time.Time
	CreatedAt      time.Time
}

// Trace is the W3C trace context an outbox row was written under, so the later
// publish or webhook continues the event's trace.
type Trace struct {
	Parent string
	State  string
}

// Fact is a follow-up event to publish through the gateway.
type Fact struct {
	ID       string
	Type     string
	Subject  string
	Data     map[string]any
	CausedBy EventRef
	Time     time.Time
	Trace    Trace
	// Attempts counts the publish attempts so far (outbox state).
	Attempts int
}

// StockOp says how a stock change applies.
type StockOp int

// Stock operations.
const (
	// StockSet sets the level (inventory INSERT).
	StockSet StockOp = iota + 1
	// StockRestock adds Delta (inventory UPDATE: new.quantity - old.quantity).
	StockRestock
	// StockRemove forgets the SKU (inventory DELETE).
	StockRemove
)

// StockChange is one hasura.public.inventory.* event.
type StockChange struct {
	Op   StockOp
	SKU  string
	Name string
	// Quantity is the new level for StockSet, and the level to start from for a
	// StockRestock of a SKU never seen (its INSERT was missed).
	Quantity int64
	// Delta is the restock for StockRestock; negative lowers the level (not below 0).
	Delta int64
}

// StockLevel is the stock of one SKU.
type StockLevel struct {
	SKU       string
	Name      string
	Quantity  int64
	UpdatedAt time.Time
}

// Subscription is a customer's recurring plan.
type Subscription struct {
	ID string
	// CustomerID is metadata.customer_id when set (the shop's customer id), else Stripe's cus_… id.
	CustomerID        string
	StripeCustomerID  string
	Status            string
	MonthlyPriceCents int64
	Currency          string
	StartedAt         time.Time
	// EndedAt is zero while the subscription is active.
	EndedAt time.Time
}

// SubscriptionChange is a stripe.customer.subscription.created or .deleted event.
type SubscriptionChange struct {
	Subscription Subscription
	Deleted      bool
}

// InvoiceLineKind says what an invoice line charges for.
type InvoiceLineKind string

// Invoice line kinds.
const (
	LineOrder        InvoiceLineKind = "order"
	LineSubscription InvoiceLineKind = "subscription"
)

// InvoiceLine is one charge.
type InvoiceLine struct {
	Kind        InvoiceLineKind
	Reference   string
	Description string
	AmountCents int64
}

// Invoice is one customer's charges for one month.
type Invoice struct {
	ID         string
	CustomerID string
	Month      Month
	Lines      []InvoiceLine
	TotalCents int64
	CreatedAt  time.Time
}

// Page asks for one page of a list.
type Page struct {
	Size  int
	Token string
}

// ShipmentFilter narrows ListShipments.
type ShipmentFilter struct {
	CustomerID string
}

// InvoiceFilter narrows ListInvoices.
type InvoiceFilter struct {
	CustomerID string
	// Month is "YYYY-MM" or empty.
	Month string
}

// NotificationFilter narrows ListNotifications.
type NotificationFilter struct {
	Status  NotificationStatus
	OrderID string
}

// Attempt is the outcome of one outbox delivery attempt (a publish or a webhook).
type Attempt struct {
	// Done: acknowledged (published, or answered 2xx).
	Done bool
	// StatusCode is the HTTP status of a webhook attempt (0 without a response).
	StatusCode int
	// Error says why the attempt failed.
	Error string
	// NextAt is when to try again; zero after a failure means give up.
	NextAt time.Time
	// At is when the attempt finished.
	At time.Time
}
