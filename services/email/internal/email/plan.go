package email

import (
	"context"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"google.golang.org/protobuf/types/known/structpb"
)

// Draft is a message before rendering: its kind, recipients and template data
// (one of the *Data types below, matching Kind).
type Draft struct {
	Kind Kind
	To   []mail.Address
	Data any
}

// WelcomeData fills the welcome template.
type WelcomeData struct {
	Name   string
	Email  string
	UserID string
}

// VerifyData fills the verification template.
type VerifyData struct {
	Name    string
	Email   string
	UserID  string
	Link    string
	Expires time.Time
}

// OrderData fills the order confirmation template.
type OrderData struct {
	OrderID        string
	Name           string
	Email          string
	Items          []Item
	Total          string
	TrackingNumber string
}

// Item is one order line; Price is formatted with two decimals.
type Item struct {
	SKU      string
	Name     string
	Quantity int64
	Price    string
}

// BackOrderData fills the back-order template.
type BackOrderData struct {
	OrderID string
	Name    string
	Email   string
	Missing []MissingItem
}

// MissingItem is a line the warehouse cannot fill; Available is -1 when unknown.
type MissingItem struct {
	SKU       string
	Requested int64
	Available int64
}

// ReportData fills the report template.
type ReportData struct {
	Period   Period
	Start    time.Time
	End      time.Time
	TimeZone string
	Figures  []Figure
}

// Planner decides which messages an event causes. It holds everything a draft
// needs besides the event: the verification link's base and signer, the report
// recipients and the report source.
type Planner struct {
	// PublicURL is where /v1/email/verify is reachable, e.g. https://api.example.com.
	PublicURL string
	Tokens    *Tokens
	// ReportRecipients receive the daily and weekly reports.
	ReportRecipients []mail.Address
	// Reports may be nil: report events then fail with ErrNotConfigured.
	Reports ReportSource
	// Customers resolves an orders fact's customer_id when the fact carries no
	// usable address. May be nil: such facts then fail with ErrNotConfigured.
	Customers Customers
	// CustomerRetry is the delay suggested when a fact names a customer the
	// directory does not know yet. Default DefaultCustomerRetry.
	CustomerRetry time.Duration
	Now           func() time.Time
}

// DefaultCustomerRetry is Planner.CustomerRetry's default: the users insert
// usually arrives within seconds; the subscription's retry bound turns a
// customer that never becomes known into a dead letter.
const DefaultCustomerRetry = 10 * time.Second

// route is the effect an event type selects.
type route int

const (
	routeNone route = iota
	routeWelcome
	routeVerify
	routeForget // no message: the customer directory only
	routeOrderConfirmation
	routeBackOrder
	routeDailyReport
	routeWeeklyReport
)

func routeOf(eventType string) route {
	switch eventType {
	case "hasura.public.users.insert":
		return routeWelcome
	case "hasura.public.users.update":
		return routeVerify
	case "hasura.public.users.delete":
		return routeForget
	case "orders.shipment.created":
		return routeOrderConfirmation
	case "orders.stock.insufficient":
		return routeBackOrder
	case "cron.daily-report", "hasura.cron.daily-report":
		return routeDailyReport
	case "cron.weekly-report", "hasura.cron.weekly-report":
		return routeWeeklyReport
	default:
		return routeNone
	}
}

// Handles reports whether the event type has an effect here at all.
func Handles(eventType string) bool { return routeOf(eventType) != routeNone }

// Plan returns the drafts an event causes: none for types without a message
// (or an update that did not change the address). Errors wrap ErrInvalid for an
// event that cannot work (no usable address, wrong payload), ErrNotConfigured
// for reports and ErrUnavailable for reports and for orders facts whose customer
// the directory does not know yet.
func (p *Planner) Plan(ctx context.Context, ev *eventv1.Event) ([]Draft, error) {
	switch routeOf(ev.GetType()) {
	case routeWelcome:
		return p.welcome(ev)
	case routeVerify:
		return p.verify(ev)
	case routeOrderConfirmation:
		return p.orderConfirmation(ctx, ev)
	case routeBackOrder:
		return p.backOrder(ctx, ev)
	case routeDailyReport:
		return p.report(ctx, ev, PeriodDaily)
	case routeWeeklyReport:
		return p.report(ctx, ev, PeriodWeekly)
	default:
		return nil, nil
	}
}

func tableRows(ev *eventv1.Event) (old, new *structpb.Struct, err error) {
	t := ev.GetHasuraTable()
	if t == nil {
		return nil, nil, invalidf("%s: not a Hasura table event", ev.GetType())
	}
	if t.GetNew() == nil {
		return nil, nil, invalidf("%s: no new row", ev.GetType())
	}
	return t.GetOld(), t.GetNew(), nil
}

func (p *Planner) welcome(ev *eventv1.Event) ([]Draft, error) {
	_, row, err := tableRows(ev)
	if err != nil {
		return nil, err
	}
	u := readUser(ev.GetHasuraTable().GetTypedNew(), row)
	addr, ok := address(u.Email)
	if !ok {
		return nil, invalidf("users insert: no usable address")
	}
	d := WelcomeData{Name: cleanName(u.Name), Email: addr, UserID: u.ID}
	return []Draft{{Kind: KindWelcome, To: []mail.Address{{Name: d.Name, Address: addr}}, Data: d}}, nil
}

func (p *Planner) verify(ev *eventv1.Event) ([]Draft, error) {
	old, row, err := tableRows(ev)
	if err != nil {
		return nil, err
	}
	t := ev.GetHasuraTable()
	u := readUser(t.GetTypedNew(), row)
	before, after := readUser(t.GetTypedOld(), old).Email, u.Email
	if before == after || after == "" {
		// Not an address change (or the address was removed): nothing to verify.
		return nil, nil
	}
	addr, ok := address(after)
	if !ok {
		return nil, invalidf("users update: no usable address")
	}
	userID := u.ID
	if userID == "" {
		return nil, invalidf("users update: no user id")
	}
	if p.Tokens == nil {
		return nil, fmt.Errorf("verification email: token secret: %w", ErrNotConfigured)
	}
	token, exp, err := p.Tokens.Sign(userID, addr, p.Now())
	if err != nil {
		return nil, err
	}
	d := VerifyData{
		Name:    cleanName(u.Name),
		Email:   addr,
		UserID:  userID,
		Link:    strings.TrimRight(p.PublicURL, "/") + "/v1/email/verify?token=" + url.QueryEscape(token),
		Expires: exp,
	}
	return []Draft{{Kind: KindVerifyEmail, To: []mail.Address{{Name: d.Name, Address: addr}}, Data: d}}, nil
}

func factData(ev *eventv1.Event) (*structpb.Struct, error) {
	f := ev.GetFact()
	if f == nil || f.GetData().GetStructValue() == nil {
		return nil, invalidf("%s: not a service fact with object data", ev.GetType())
	}
	return f.GetData().GetStructValue(), nil
}

// customer reads the recipient of an orders fact: its own address when it
// carries a usable one (customer_email, email or customer.email), else the
// directory's address of its customer_id (string or number). A customer the
// directory does not know yet is temporary (ErrUnavailable with a delay: the
// users insert may still be on its way); a fact with neither address nor
// customer_id, or a customer known to have no address, is ErrInvalid. The
// fact's customer_name wins over the directory's name.
func (p *Planner) customer(ctx context.Context, data *structpb.Struct) (mail.Address, error) {
	name := cleanName(text(field(data, "customer_name", "name", "customer.name")))
	if addr, ok := address(text(field(data, "customer_email", "email", "customer.email"))); ok {
		return mail.Address{Name: name, Address: addr}, nil
	}
	id := text(field(data, "customer_id", "customer.id"))
	if id == "" {
		return mail.Address{}, invalidf("no usable customer address and no customer_id")
	}
	if p.Customers == nil {
		return mail.Address{}, fmt.Errorf("customer %s: customer directory: %w", id, ErrNotConfigured)
	}
	c, ok, err := p.Customers.Customer(ctx, id)
	switch {
	case err != nil:
		return mail.Address{}, fmt.Errorf("customer %s: %w", id, err)
	case !ok:
		after := p.CustomerRetry
		if after <= 0 {
			after = DefaultCustomerRetry
		}
		return mail.Address{}, Retry(after, fmt.Errorf("customer %s: %w: not in the customer directory yet", id, ErrUnavailable))
	case c.Deleted:
		return mail.Address{}, invalidf("customer %s: deleted, no address", id)
	case c.Email == "":
		return mail.Address{}, invalidf("customer %s: no usable address", id)
	}
	if name == "" {
		name = c.Name
	}
	return mail.Address{Name: name, Address: c.Email}, nil
}

func (p *Planner) orderConfirmation(ctx context.Context, ev *eventv1.Event) ([]Draft, error) {
	data, err := factData(ev)
	if err != nil {
		return nil, err
	}
	d := OrderData{
		OrderID:        text(field(data, "order_id")),
		TrackingNumber: cleanName(text(field(data, "tracking_number"))),
	}
	if d.OrderID == "" {
		return nil, invalidf("order confirmation: no order_id")
	}
	if v := field(data, "total"); v != nil {
		total, ok := money(v)
		if !ok {
			return nil, invalidf("order confirmation: total is not an amount")
		}
		d.Total = total
	}
	for i, v := range field(data, "items").GetListValue().GetValues() {
		it := v.GetStructValue()
		qty, ok := integer(field(it, "quantity"))
		if it == nil || !ok {
			return nil, invalidf("order confirmation: item %d: no whole quantity", i)
		}
		item := Item{SKU: cleanName(text(field(it, "sku"))), Name: cleanName(text(field(it, "name"))), Quantity: qty}
		if pv := field(it, "price"); pv != nil {
			price, ok := money(pv)
			if !ok {
				return nil, invalidf("order confirmation: item %d: price is not an amount", i)
			}
			item.Price = price
		}
		d.Items = append(d.Items, item)
	}
	// Last: a fact that cannot work is a dead letter even while its customer
	// is still unknown.
	to, err := p.customer(ctx, data)
	if err != nil {
		return nil, fmt.Errorf("order confirmation: %w", err)
	}
	d.Name, d.Email = to.Name, to.Address
	return []Draft{{Kind: KindOrderConfirmation, To: []mail.Address{to}, Data: d}}, nil
}

func (p *Planner) backOrder(ctx context.Context, ev *eventv1.Event) ([]Draft, error) {
	data, err := factData(ev)
	if err != nil {
		return nil, err
	}
	d := BackOrderData{OrderID: text(field(data, "order_id"))}
	if d.OrderID == "" {
		return nil, invalidf("back-order email: no order_id")
	}
	for i, v := range field(data, "shortages", "missing_items", "missing").GetListValue().GetValues() {
		it := v.GetStructValue()
		if it == nil {
			return nil, invalidf("back-order email: missing item %d is not an object", i)
		}
		m := MissingItem{SKU: cleanName(text(field(it, "sku"))), Available: -1}
		if m.SKU == "" {
			return nil, invalidf("back-order email: missing item %d: no sku", i)
		}
		if n, ok := integer(field(it, "requested", "quantity")); ok {
			m.Requested = n
		}
		if n, ok := integer(field(it, "available")); ok {
			m.Available = n
		}
		d.Missing = append(d.Missing, m)
	}
	to, err := p.customer(ctx, data)
	if err != nil {
		return nil, fmt.Errorf("back-order email: %w", err)
	}
	d.Name, d.Email = to.Name, to.Address
	return []Draft{{Kind: KindBackOrder, To: []mail.Address{to}, Data: d}}, nil
}

func (p *Planner) report(ctx context.Context, ev *eventv1.Event, period Period) ([]Draft, error) {
	if len(p.ReportRecipients) == 0 {
		return nil, fmt.Errorf("%s report: EMAIL_REPORT_RECIPIENTS: %w", period, ErrNotConfigured)
	}
	if p.Reports == nil {
		return nil, fmt.Errorf("%s report: analytics client: %w", period, ErrNotConfigured)
	}
	sched := ev.GetScheduled()
	due := sched.GetScheduledTime().AsTime()
	if sched.GetScheduledTime() == nil {
		if ev.GetTime() == nil {
			return nil, invalidf("%s report: no scheduled time", period)
		}
		due = ev.GetTime().AsTime()
	}
	tz := "UTC"
	if v := text(field(sched.GetPayload().GetStructValue(), "timezone", "time_zone")); v != "" {
		tz = v
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, invalidf("%s report: unknown time zone %q", period, tz)
	}
	start, end, err := reportWindow(period, due, loc)
	if err != nil {
		return nil, err
	}
	rep, err := p.Reports.Report(ctx, ReportQuery{Period: period, Start: start, End: end, Location: loc})
	if err != nil {
		return nil, fmt.Errorf("%s report: fetch figures: %w", period, err)
	}
	kind := KindDailyReport
	if period == PeriodWeekly {
		kind = KindWeeklyReport
	}
	d := ReportData{Period: period, Start: start, End: end, TimeZone: loc.String(), Figures: rep.Figures}
	return []Draft{{Kind: kind, To: append([]mail.Address(nil), p.ReportRecipients...), Data: d}}, nil
}
