package orders

import (
	"fmt"
	"sort"
	"time"
)

// Month is a calendar month in UTC.
type Month struct {
	Year  int
	Month time.Month
}

// MonthOf is the UTC month containing t.
func MonthOf(t time.Time) Month {
	t = t.UTC()
	return Month{Year: t.Year(), Month: t.Month()}
}

// ParseMonth reads "YYYY-MM".
func ParseMonth(s string) (Month, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil {
		return Month{}, Invalidf("month %q is not YYYY-MM", s)
	}
	return MonthOf(t), nil
}

// String is "YYYY-MM".
func (m Month) String() string { return fmt.Sprintf("%04d-%02d", m.Year, int(m.Month)) }

// Start is the first instant of the month.
func (m Month) Start() time.Time { return time.Date(m.Year, m.Month, 1, 0, 0, 0, 0, time.UTC) }

// End is the first instant of the next month.
func (m Month) End() time.Time { return m.Start().AddDate(0, 1, 0) }

// Prev is the month before m.
func (m Month) Prev() Month { return MonthOf(m.Start().AddDate(0, -1, 0)) }

// BillingMonth is the month a billing tick due at scheduled bills: the previous one
// (the demo's cron runs at 00:00 on the 1st).
func BillingMonth(scheduled time.Time) Month { return MonthOf(scheduled).Prev() }

// ActiveIn reports whether the subscription was active at any time in m.
func (s Subscription) ActiveIn(m Month) bool {
	if !s.StartedAt.Before(m.End()) {
		return false
	}
	return s.EndedAt.IsZero() || s.EndedAt.After(m.Start())
}

// BuildInvoices groups month's charges by customer: every shipped order completed
// before the end of the month and not billed yet (so a late one lands on the next
// invoice rather than being lost), and one month of every subscription active in
// the month. Customers without charges get no invoice.
func BuildInvoices(m Month, unbilled []Shipment, subs []Subscription, now time.Time) []Invoice {
	byCustomer := map[string]*Invoice{}
	get := func(customer string) *Invoice {
		inv := byCustomer[customer]
		if inv == nil {
			inv = &Invoice{ID: InvoiceID(customer, m), CustomerID: customer, Month: m, CreatedAt: now}
			byCustomer[customer] = inv
		}
		return inv
	}
	for _, s := range unbilled {
		if s.InvoiceID != "" || !s.CompletedAt.Before(m.End()) {
			continue
		}
		inv := get(s.CustomerID)
		inv.Lines = append(inv.Lines, InvoiceLine{
			Kind: LineOrder, Reference: s.OrderID,
			Description: "Order " + s.OrderID + " (" + s.CompletedAt.UTC().Format("2006-01-02") + ")",
			AmountCents: s.TotalCents,
		})
	}
	for _, sub := range subs {
		if !sub.ActiveIn(m) {
			continue
		}
		inv := get(sub.CustomerID)
		inv.Lines = append(inv.Lines, InvoiceLine{
			Kind: LineSubscription, Reference: sub.ID,
			Description: "Subscription " + sub.ID + " (" + m.String() + ")",
			AmountCents: sub.MonthlyPriceCents,
		})
	}
	out := make([]Invoice, 0, len(byCustomer))
	for _, inv := range byCustomer {
		sort.Slice(inv.Lines, func(i, j int) bool {
			if inv.Lines[i].Kind != inv.Lines[j].Kind {
				return inv.Lines[i].Kind < inv.Lines[j].Kind
			}
			return inv.Lines[i].Reference < inv.Lines[j].Reference
		})
		for _, l := range inv.Lines {
			inv.TotalCents += l.AmountCents
		}
		out = append(out, *inv)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CustomerID < out[j].CustomerID })
	return out
}

// MonthlyPriceCents normalises a recurring price (Stripe's unit_amount × quantity
// per interval_count intervals) to one month, rounding half up.
func MonthlyPriceCents(unitAmount, quantity int64, interval string, intervalCount int64) (int64, error) {
	if unitAmount < 0 || quantity < 0 || intervalCount < 0 {
		return 0, Invalidf("negative price, quantity or interval count")
	}
	if intervalCount == 0 {
		intervalCount = 1
	}
	const limit = int64(1) << 40 // far above any real price; keeps the products below in range
	if unitAmount > limit || quantity > limit/max(unitAmount, 1) {
		return 0, Invalidf("price out of range")
	}
	amount := unitAmount * quantity
	// Per month = amount * num / den.
	var num, den int64
	switch interval {
	case "month":
		num, den = 1, intervalCount
	case "year":
		num, den = 1, 12*intervalCount
	case "week":
		num, den = 52, 12*intervalCount
	case "day":
		num, den = 365, 12*intervalCount
	default:
		return 0, Invalidf("unknown recurring interval %q", interval)
	}
	return (amount*num*2 + den) / (2 * den), nil
}
