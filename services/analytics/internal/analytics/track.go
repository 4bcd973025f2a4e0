package analytics

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// DefaultRetention is how long raw events are kept when nothing else is configured.
const DefaultRetention = 90 * 24 * time.Hour

// TrackerConfig configures a Tracker.
type TrackerConfig struct {
	// Retention is how long raw events are kept; a cleanup tick deletes older ones.
	// Default DefaultRetention.
	Retention time.Duration
	// Now is the clock (default time.Now); tests pin it.
	Now func() time.Time
}

func (c *TrackerConfig) setDefaults() {
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports a configuration that cannot work.
func (c TrackerConfig) Validate() error {
	if c.Retention < time.Hour {
		return fmt.Errorf("retention %s: must be at least one hour", c.Retention)
	}
	return nil
}

// Tracker turns routed events into Records. It does no I/O.
type Tracker struct {
	cfg TrackerConfig
}

// NewTracker returns a Tracker for cfg.
func NewTracker(cfg TrackerConfig) (*Tracker, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Tracker{cfg: cfg}, nil
}

// Track returns what ev contributes to analytics. Every event with an id, source and
// type is counted under its type; the demo routes' events also yield tracked facts.
// An error wraps ErrInvalid: the event can never be applied.
func (t *Tracker) Track(ev *eventv1.Event) (Record, error) {
	if ev == nil {
		return Record{}, fmt.Errorf("%w: no event", ErrInvalid)
	}
	for _, f := range []struct{ name, v string }{{"id", ev.GetId()}, {"source", ev.GetSource()}, {"type", ev.GetType()}} {
		if strings.TrimSpace(f.v) == "" {
			return Record{}, fmt.Errorf("%w: event %s is empty", ErrInvalid, f.name)
		}
	}
	rec := Record{
		Source:     ev.GetSource(),
		EventID:    ev.GetId(),
		Type:       ev.GetType(),
		OccurredAt: t.occurredAt(ev),
		Properties: map[string]any{},
	}
	var err error
	switch typ := ev.GetType(); {
	case typ == "hasura.public.users.insert":
		err = trackUserRegistered(ev, &rec)
	case typ == "hasura.public.users.update":
		err = trackUserUpdated(ev, &rec)
	case strings.HasPrefix(typ, "hasura.public.orders."):
		err = trackOrder(ev, &rec)
	case typ == "stripe.payment_intent.succeeded", typ == "stripe.payment_intent.payment_failed":
		err = trackPayment(ev, &rec)
	case typ == "stripe.customer.subscription.created", typ == "stripe.customer.subscription.deleted":
		err = trackSubscription(ev, &rec)
	case strings.HasPrefix(typ, "github."):
		trackGitHub(ev, &rec)
	case typ == "cron.cleanup", typ == "hasura.cron.cleanup":
		rec.CleanupBefore = t.cleanupBefore(ev)
		rec.Properties["cleanup_before"] = rec.CleanupBefore.UTC().Format(time.RFC3339)
	}
	if err != nil {
		return Record{}, fmt.Errorf("%w: %s %s/%s: %w", ErrInvalid, ev.GetType(), ev.GetSource(), ev.GetId(), err)
	}
	// The acting user of any change made through Hasura is active too.
	if h := ev.GetHasuraTable(); h != nil {
		addUser(&rec, h.GetSessionVariables()["x-hasura-user-id"])
	}
	rec.Name = rec.Type
	if len(rec.Metrics) > 0 {
		rec.Name = rec.Metrics[0].Name
	}
	return rec, nil
}

func (t *Tracker) occurredAt(ev *eventv1.Event) time.Time {
	for _, ts := range []interface {
		IsValid() bool
		AsTime() time.Time
	}{ev.GetScheduled().GetScheduledTime(), ev.GetTime(), ev.GetReceivedTime()} {
		if ts != nil && ts.IsValid() && !ts.AsTime().IsZero() && ts.AsTime().Unix() > 0 {
			return ts.AsTime().UTC()
		}
	}
	return t.cfg.Now().UTC()
}

// cleanupBefore is the tick's due time (never later than now) minus the retention,
// so a replayed old tick deletes less, never more.
func (t *Tracker) cleanupBefore(ev *eventv1.Event) time.Time {
	base := t.cfg.Now().UTC()
	if due := t.occurredAt(ev); due.Before(base) {
		base = due
	}
	return base.Add(-t.cfg.Retention)
}

func trackUserRegistered(ev *eventv1.Event, rec *Record) error {
	h := ev.GetHasuraTable()
	u, err := readUser(h.GetTypedNew(), h.GetNew())
	if err != nil {
		return err
	}
	if u.ID == "" {
		return errors.New("new row has no id")
	}
	if u.Method == "" {
		u.Method = "email"
	}
	rec.Metrics = append(rec.Metrics, Metric{Name: UserRegistered})
	addUser(rec, u.ID)
	rec.Properties["user_id"] = u.ID
	rec.Properties["email"] = u.Email
	rec.Properties["name"] = u.Name
	rec.Properties["registration_method"] = u.Method
	return nil
}

func trackUserUpdated(ev *eventv1.Event, rec *Record) error {
	h := ev.GetHasuraTable()
	oldRow, newRow := h.GetOld(), h.GetNew()
	var changed []string
	for _, c := range []struct{ column, metric string }{{"email", UserEmailChanged}, {"name", UserNameChanged}} {
		before, after := field(oldRow, c.column), field(newRow, c.column)
		// Only columns in both rows can be compared (triggers may send a subset).
		if before == nil || after == nil || proto.Equal(before, after) {
			continue
		}
		changed = append(changed, c.column)
		rec.Metrics = append(rec.Metrics, Metric{Name: c.metric})
	}
	if len(changed) == 0 {
		return nil // counted under its type only
	}
	id := idString(field(newRow, "id"))
	if id == "" {
		id = idString(field(oldRow, "id"))
	}
	if id == "" {
		return errors.New("changed user row has no id")
	}
	addUser(rec, id)
	rec.Properties["user_id"] = id
	rec.Properties["changed"] = changed
	for _, c := range changed {
		rec.Properties[c] = stringField(newRow, c)
	}
	return nil
}

// trackOrder tracks order_completed on the transition to "completed" only, so a later
// update of a completed order adds nothing.
func trackOrder(ev *eventv1.Event, rec *Record) error {
	h := ev.GetHasuraTable()
	if h.GetNew() == nil {
		return nil
	}
	newRow, err := readOrder(h.GetTypedNew(), h.GetNew())
	if err != nil {
		return err
	}
	oldRow, err := readOrder(h.GetTypedOld(), h.GetOld())
	if err != nil {
		return err
	}
	addUser(rec, newRow.CustomerID)
	if newRow.Status != "completed" || oldRow.Status == newRow.Status {
		return nil
	}
	switch h.GetOp() {
	case eventv1.HasuraOperation_HASURA_OPERATION_INSERT, eventv1.HasuraOperation_HASURA_OPERATION_UPDATE:
	default:
		return nil
	}
	amount, err := newRow.amount()
	if err != nil {
		return fmt.Errorf("order total: %w", err)
	}
	items, err := newRow.items()
	if err != nil {
		return fmt.Errorf("order items: %w", err)
	}
	rec.Metrics = append(rec.Metrics, Metric{Name: OrderCompleted, AmountCents: amount, Items: items})
	rec.Properties["order_id"] = newRow.ID
	rec.Properties["customer_id"] = newRow.CustomerID
	rec.Properties["amount"] = FormatCents(amount)
	rec.Properties["items"] = items
	return nil
}

func stripeObject(ev *eventv1.Event) (*structpb.Struct, error) {
	body := ev.GetProvider().GetPayload().GetStructValue()
	obj := field(field(body, "data").GetStructValue(), "object").GetStructValue()
	if obj == nil {
		return nil, errors.New("stripe payload has no data.object")
	}
	return obj, nil
}

func trackPayment(ev *eventv1.Event, rec *Record) error {
	obj, err := stripeObject(ev)
	if err != nil {
		return err
	}
	name := PaymentSucceeded
	if ev.GetType() == "stripe.payment_intent.payment_failed" {
		name = PaymentFailed
		if code := stringField(field(obj, "last_payment_error").GetStructValue(), "code"); code != "" {
			rec.Properties["failure_code"] = code
		}
	}
	rec.Metrics = append(rec.Metrics, Metric{Name: name})
	meta := field(obj, "metadata").GetStructValue()
	addUser(rec, idString(field(meta, "user_id")))
	rec.Properties["payment_intent"] = stringField(obj, "id")
	rec.Properties["customer"] = stringField(obj, "customer")
	rec.Properties["currency"] = stringField(obj, "currency")
	if n := field(obj, "amount"); n != nil {
		rec.Properties["amount_minor"] = n.GetNumberValue()
	}
	if order := idString(field(meta, "order_id")); order != "" {
		rec.Properties["order_id"] = order
	}
	return nil
}

func trackSubscription(ev *eventv1.Event, rec *Record) error {
	obj, err := stripeObject(ev)
	if err != nil {
		return err
	}
	name := SubscriptionCreated
	if ev.GetType() == "stripe.customer.subscription.deleted" {
		name = SubscriptionCancelled
	}
	rec.Metrics = append(rec.Metrics, Metric{Name: name})
	addUser(rec, idString(field(field(obj, "metadata").GetStructValue(), "user_id")))
	rec.Properties["subscription"] = stringField(obj, "id")
	rec.Properties["customer"] = stringField(obj, "customer")
	rec.Properties["status"] = stringField(obj, "status")
	return nil
}

// trackGitHub keeps what a delivery was about; GitHub deliveries are counted by type.
func trackGitHub(ev *eventv1.Event, rec *Record) {
	body := ev.GetProvider().GetPayload().GetStructValue()
	if repo := stringField(field(body, "repository").GetStructValue(), "full_name"); repo != "" {
		rec.Properties["repository"] = repo
	}
	if action := stringField(body, "action"); action != "" {
		rec.Properties["action"] = action
	}
	if sender := stringField(field(body, "sender").GetStructValue(), "login"); sender != "" {
		rec.Properties["sender"] = sender
	}
}

func addUser(rec *Record, id string) {
	if id == "" {
		return
	}
	for _, u := range rec.UserIDs {
		if u == id {
			return
		}
	}
	rec.UserIDs = append(rec.UserIDs, id)
}

func field(s *structpb.Struct, name string) *structpb.Value {
	v := s.GetFields()[name]
	if _, isNull := v.GetKind().(*structpb.Value_NullValue); isNull {
		return nil
	}
	return v
}

func stringField(s *structpb.Struct, name string) string {
	return field(s, name).GetStringValue()
}

// idString renders an id column: text as is, an integral number without exponent.
func idString(v *structpb.Value) string {
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return k.StringValue
	case *structpb.Value_NumberValue:
		if f := k.NumberValue; f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return strconv.FormatInt(int64(f), 10)
		}
	}
	return ""
}

// maxCents bounds amounts so that sums over years stay far from int64 overflow.
const maxCents = 1e15

// cents reads a money amount (a JSON number, or a decimal string as PostgreSQL numeric
// may arrive) in hundredths, rounding half away from zero. A missing amount is zero.
func cents(v *structpb.Value) (int64, error) {
	switch k := v.GetKind().(type) {
	case nil:
		return 0, nil
	case *structpb.Value_NumberValue:
		f := k.NumberValue
		if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f*100 > maxCents {
			return 0, fmt.Errorf("amount %v out of range", f)
		}
		return int64(math.Round(f * 100)), nil
	case *structpb.Value_StringValue:
		return parseDecimalCents(k.StringValue)
	default:
		return 0, errors.New("amount is neither a number nor a decimal string")
	}
}

func parseDecimalCents(s string) (int64, error) {
	whole, frac, _ := strings.Cut(strings.TrimSpace(s), ".")
	if whole == "" || len(whole) > 13 || strings.Trim(whole, "0123456789") != "" || strings.Trim(frac, "0123456789") != "" {
		return 0, fmt.Errorf("amount %q is not a non-negative decimal", s)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("amount %q: %w", s, err)
	}
	frac += "000"
	f, _ := strconv.ParseInt(frac[:2], 10, 64) // digits checked above
	c := w*100 + f
	if frac[2] >= '5' {
		c++
	}
	return c, nil
}

// FormatCents renders hundredths as a decimal with two fraction digits, e.g. "12.50".
func FormatCents(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}

// itemCount sums the quantity of each line of an order's items list.
func itemCount(v *structpb.Value) (int64, error) {
	if v == nil {
		return 0, nil
	}
	list := v.GetListValue()
	if list == nil {
		return 0, errors.New("items is not a list")
	}
	var n int64
	for i, line := range list.GetValues() {
		q := field(line.GetStructValue(), "quantity")
		if q == nil {
			return 0, fmt.Errorf("line %d has no quantity", i)
		}
		f := q.GetNumberValue()
		if _, isNum := q.GetKind().(*structpb.Value_NumberValue); !isNum || f < 0 || f != math.Trunc(f) || f > 1e9 {
			return 0, fmt.Errorf("line %d quantity is not a non-negative integer", i)
		}
		n += int64(f)
	}
	return n, nil
}
