package grpcapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/services/orders/internal/orders"
)

// stripeEvent is the part of a Stripe event this service reads.
type stripeEvent struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Created int64  `json:"created"`
	Data    struct {
		Object json.RawMessage `json:"object"`
	} `json:"data"`
}

type paymentIntent struct {
	ID               string            `json:"id"`
	Amount           int64             `json:"amount"`
	Currency         string            `json:"currency"`
	ReceiptEmail     string            `json:"receipt_email"`
	Metadata         map[string]string `json:"metadata"`
	LastPaymentError *struct {
		Message string `json:"message"`
	} `json:"last_payment_error"`
}

type recurring struct {
	Interval      string `json:"interval"`
	IntervalCount int64  `json:"interval_count"`
}

type subscriptionObject struct {
	ID         string            `json:"id"`
	Customer   json.RawMessage   `json:"customer"`
	Status     string            `json:"status"`
	Currency   string            `json:"currency"`
	Metadata   map[string]string `json:"metadata"`
	StartDate  int64             `json:"start_date"`
	Created    int64             `json:"created"`
	EndedAt    int64             `json:"ended_at"`
	CanceledAt int64             `json:"canceled_at"`
	Items      struct {
		Data []struct {
			Quantity *int64 `json:"quantity"`
			Price    *struct {
				UnitAmount *int64     `json:"unit_amount"`
				Currency   string     `json:"currency"`
				Recurring  *recurring `json:"recurring"`
			} `json:"price"`
			Plan *stripePlan `json:"plan"`
		} `json:"data"`
	} `json:"items"`
	Plan     *stripePlan `json:"plan"`
	Quantity *int64      `json:"quantity"`
}

type stripePlan struct {
	Amount        *int64 `json:"amount"`
	Currency      string `json:"currency"`
	Interval      string `json:"interval"`
	IntervalCount int64  `json:"interval_count"`
}

// stripePayload returns the Stripe event JSON: the typed payload, or the original
// body when the payload is missing.
func stripePayload(ev *eventv1.Event, pw *eventv1.ProviderWebhook) (stripeEvent, error) {
	var raw []byte
	if pw.GetPayload() != nil {
		// encoding/json writes whole float64s without an exponent (unlike protojson),
		// so Stripe's integer fields decode into int64.
		b, err := json.Marshal(pw.GetPayload().AsInterface())
		if err != nil {
			return stripeEvent{}, orders.Invalidf("stripe payload: %v", err)
		}
		raw = b
	} else {
		raw = ev.GetOriginalBody()
	}
	var se stripeEvent
	if err := json.Unmarshal(raw, &se); err != nil {
		return stripeEvent{}, orders.Invalidf("stripe event is not a Stripe event object: %v", err)
	}
	if len(se.Data.Object) == 0 || string(se.Data.Object) == "null" {
		return stripeEvent{}, orders.Invalidf("stripe event has no data.object")
	}
	return se, nil
}

func stripeTime(unix int64, fallback time.Time) time.Time {
	if unix > 0 {
		return time.Unix(unix, 0).UTC()
	}
	return fallback
}

// decodePayment reads payment_intent.succeeded / .payment_failed. ok is false for a
// payment intent that is not about an order (no metadata.order_id), e.g. one of a
// subscription invoice.
func decodePayment(ev *eventv1.Event, se stripeEvent, succeeded bool) (p orders.Payment, ok bool, err error) {
	var pi paymentIntent
	if err := json.Unmarshal(se.Data.Object, &pi); err != nil {
		return p, false, orders.Invalidf("stripe payment_intent: %v", err)
	}
	orderID := strings.TrimSpace(pi.Metadata["order_id"])
	if orderID == "" {
		return p, false, nil
	}
	p = orders.Payment{
		OrderID: orderID, Status: orders.PaymentFailed, PaymentIntentID: pi.ID,
		AmountCents: pi.Amount, Currency: pi.Currency, ReceiptEmail: pi.ReceiptEmail,
		At: stripeTime(se.Created, eventTime(ev)),
	}
	if succeeded {
		p.Status = orders.PaymentSucceeded
	} else if pi.LastPaymentError != nil {
		p.FailureMessage = pi.LastPaymentError.Message
	}
	return p, true, nil
}

// decodeSubscription reads customer.subscription.created / .deleted.
func decodeSubscription(ev *eventv1.Event, se stripeEvent, deleted bool) (orders.SubscriptionChange, error) {
	var so subscriptionObject
	if err := json.Unmarshal(se.Data.Object, &so); err != nil {
		return orders.SubscriptionChange{}, orders.Invalidf("stripe subscription: %v", err)
	}
	at := stripeTime(se.Created, eventTime(ev))
	stripeCustomer, err := customerID(so.Customer)
	if err != nil {
		return orders.SubscriptionChange{}, err
	}
	sub := orders.Subscription{
		ID: so.ID, StripeCustomerID: stripeCustomer, Status: so.Status, Currency: so.Currency,
		// The shop's customer id when the subscription carries one, so a customer's
		// orders and subscriptions land on one invoice.
		CustomerID: strings.TrimSpace(so.Metadata["customer_id"]),
		StartedAt:  stripeTime(so.StartDate, stripeTime(so.Created, at)),
	}
	if sub.CustomerID == "" {
		sub.CustomerID = stripeCustomer
	}
	if deleted {
		sub.EndedAt = stripeTime(so.EndedAt, stripeTime(so.CanceledAt, at))
		if sub.Status == "" {
			sub.Status = "canceled"
		}
	}
	if sub.MonthlyPriceCents, sub.Currency, err = monthlyPrice(so); err != nil {
		return orders.SubscriptionChange{}, fmt.Errorf("subscription %s: %w", so.ID, err)
	}
	return orders.SubscriptionChange{Subscription: sub, Deleted: deleted}, nil
}

func customerID(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", orders.Invalidf("subscription has no customer")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.ID == "" {
		return "", orders.Invalidf("subscription customer is neither an id nor an object with one")
	}
	return obj.ID, nil
}

// monthlyPrice sums the subscription's items, each normalised to one month.
func monthlyPrice(so subscriptionObject) (int64, string, error) {
	currency := so.Currency
	var total int64
	n := 0
	for _, it := range so.Items.Data {
		qty := int64(1)
		if it.Quantity != nil {
			qty = *it.Quantity
		}
		var amount *int64
		var rec recurring
		switch {
		case it.Price != nil && it.Price.Recurring != nil:
			amount, rec = it.Price.UnitAmount, *it.Price.Recurring
			currency = firstNonEmpty(currency, it.Price.Currency)
		case it.Plan != nil:
			amount, rec = it.Plan.Amount, recurring{Interval: it.Plan.Interval, IntervalCount: it.Plan.IntervalCount}
			currency = firstNonEmpty(currency, it.Plan.Currency)
		default:
			return 0, "", orders.Invalidf("item without a recurring price")
		}
		if amount == nil {
			return 0, "", orders.Invalidf("item price has no unit_amount (tiered prices are not supported)")
		}
		m, err := orders.MonthlyPriceCents(*amount, qty, rec.Interval, rec.IntervalCount)
		if err != nil {
			return 0, "", err
		}
		total += m
		n++
	}
	if n == 0 && so.Plan != nil && so.Plan.Amount != nil {
		qty := int64(1)
		if so.Quantity != nil {
			qty = *so.Quantity
		}
		m, err := orders.MonthlyPriceCents(*so.Plan.Amount, qty, so.Plan.Interval, so.Plan.IntervalCount)
		if err != nil {
			return 0, "", err
		}
		return m, firstNonEmpty(currency, so.Plan.Currency), nil
	}
	if n == 0 {
		return 0, "", orders.Invalidf("subscription has no priced items")
	}
	return total, currency, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
