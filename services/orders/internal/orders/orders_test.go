package orders_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/services/orders/internal/orders"
)

func TestParseCents(t *testing.T) {
	tests := []struct {
		in   any
		want int64
		err  bool
	}{
		{19.99, 1999, false},
		{"19.99", 1999, false},
		{"19.9", 1990, false},
		{"19.990", 1999, false},
		{20.0, 2000, false},
		{json.Number("0.05"), 5, false},
		{"-3.5", -350, false},
		{".5", 50, false},
		{7, 700, false},
		{int64(7), 700, false},
		{"19.999", 0, true},
		{0.001, 0, true},
		{"abc", 0, true},
		{"1e3", 0, true},
		{"", 0, true},
		{nil, 0, true},
		{true, 0, true},
		{"99999999999999999999", 0, true},
	}
	for _, tc := range tests {
		got, err := orders.ParseCents(tc.in)
		if tc.err {
			if !errors.Is(err, orders.ErrInvalid) {
				t.Errorf("ParseCents(%#v) = %d, %v; want ErrInvalid", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseCents(%#v) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestFormatCents(t *testing.T) {
	for in, want := range map[int64]string{0: "0.00", 5: "0.05", 1999: "19.99", -350: "-3.50", 100000: "1000.00"} {
		if got := orders.FormatCents(in); got != want {
			t.Errorf("FormatCents(%d) = %s, want %s", in, got, want)
		}
	}
}

func TestMonths(t *testing.T) {
	tests := []struct {
		scheduled time.Time
		want      string
	}{
		{time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), "2026-05"},
		{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "2025-12"},
		{time.Date(2026, 3, 15, 13, 0, 0, 0, time.UTC), "2026-02"},
		// Just after midnight on the 1st in UTC+2 is still the last day before in UTC.
		{time.Date(2026, 6, 1, 1, 0, 0, 0, time.FixedZone("CEST", 2*3600)), "2026-04"},
	}
	for _, tc := range tests {
		if got := orders.BillingMonth(tc.scheduled).String(); got != tc.want {
			t.Errorf("BillingMonth(%v) = %s, want %s", tc.scheduled, got, tc.want)
		}
	}
	m, err := orders.ParseMonth("2024-02")
	if err != nil || !m.Start().Equal(time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)) || !m.End().Equal(time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("ParseMonth = %v %v", m, err)
	}
	for _, bad := range []string{"2024-13", "24-02", "2024/02", ""} {
		if _, err := orders.ParseMonth(bad); !errors.Is(err, orders.ErrInvalid) {
			t.Errorf("ParseMonth(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestMonthlyPriceCents(t *testing.T) {
	tests := []struct {
		name     string
		amount   int64
		qty      int64
		interval string
		count    int64
		want     int64
		err      bool
	}{
		{"monthly", 999, 1, "month", 1, 999, false},
		{"monthly, two seats", 999, 2, "month", 1, 1998, false},
		{"quarterly", 3000, 1, "month", 3, 1000, false},
		{"yearly", 12000, 1, "year", 1, 1000, false},
		{"yearly rounds half up", 1000, 1, "year", 1, 83, false},
		{"weekly", 1200, 1, "week", 1, 5200, false},
		{"daily", 120, 1, "day", 1, 3650, false},
		{"interval count 0 is 1", 500, 1, "month", 0, 500, false},
		{"unknown interval", 500, 1, "fortnight", 1, 0, true},
		{"negative", -1, 1, "month", 1, 0, true},
		{"huge", 1 << 41, 1, "month", 1, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := orders.MonthlyPriceCents(tc.amount, tc.qty, tc.interval, tc.count)
			if tc.err != (err != nil) || got != tc.want {
				t.Fatalf("= %d, %v; want %d (error %v)", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestCompletes(t *testing.T) {
	row := func(status string) *orders.OrderRow {
		return &orders.OrderRow{ID: "1", CustomerID: "c", Status: status}
	}
	tests := []struct {
		name string
		c    orders.OrderChange
		want bool
	}{
		{"pending to completed", orders.OrderChange{Old: row("pending"), New: row("completed")}, true},
		{"inserted completed", orders.OrderChange{New: row("completed")}, true},
		{"completed to completed", orders.OrderChange{Old: row("completed"), New: row("completed")}, false},
		{"completed to cancelled", orders.OrderChange{Old: row("completed"), New: row("cancelled")}, false},
		{"pending to paid", orders.OrderChange{Old: row("pending"), New: row("paid")}, false},
		{"delete", orders.OrderChange{Old: row("completed")}, false},
	}
	for _, tc := range tests {
		if got := tc.c.Completes(); got != tc.want {
			t.Errorf("%s: Completes = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPaymentSupersedes(t *testing.T) {
	t1, t2 := time.Unix(100, 0), time.Unix(200, 0)
	p := func(s orders.PaymentStatus, at time.Time) orders.Payment { return orders.Payment{Status: s, At: at} }
	tests := []struct {
		name     string
		incoming orders.Payment
		current  orders.Payment
		want     bool
	}{
		{"first event", p(orders.PaymentFailed, t1), orders.Payment{}, true},
		{"success after failure", p(orders.PaymentSucceeded, t2), p(orders.PaymentFailed, t1), true},
		{"late older success after failure", p(orders.PaymentSucceeded, t1), p(orders.PaymentFailed, t2), true},
		{"failure after success", p(orders.PaymentFailed, t2), p(orders.PaymentSucceeded, t1), false},
		{"newer failure", p(orders.PaymentFailed, t2), p(orders.PaymentFailed, t1), true},
		{"older failure", p(orders.PaymentFailed, t1), p(orders.PaymentFailed, t2), false},
	}
	for _, tc := range tests {
		if got := tc.incoming.Supersedes(tc.current); got != tc.want {
			t.Errorf("%s: Supersedes = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestBuildInvoices(t *testing.T) {
	m := orders.Month{Year: 2026, Month: time.May}
	in := func(d int) time.Time { return time.Date(2026, 5, d, 12, 0, 0, 0, time.UTC) }
	shipments := []orders.Shipment{
		{OrderID: "o1", CustomerID: "alice", TotalCents: 1000, CompletedAt: in(3)},
		{OrderID: "o2", CustomerID: "alice", TotalCents: 500, CompletedAt: in(20)},
		{OrderID: "o0", CustomerID: "alice", TotalCents: 100, CompletedAt: time.Date(2026, 4, 30, 0, 0, 0, 0, time.UTC)}, // late, unbilled
		{OrderID: "o3", CustomerID: "bob", TotalCents: 700, CompletedAt: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)},    // next month
		{OrderID: "o4", CustomerID: "bob", TotalCents: 900, CompletedAt: in(5), InvoiceID: "inv-x"},                      // billed
	}
	subs := []orders.Subscription{
		{ID: "sub_a", CustomerID: "alice", MonthlyPriceCents: 999, StartedAt: in(1).AddDate(0, -2, 0)},
		{ID: "sub_c", CustomerID: "carol", MonthlyPriceCents: 500, StartedAt: in(10), EndedAt: in(15)},
		{ID: "sub_d", CustomerID: "dave", MonthlyPriceCents: 500, StartedAt: in(1).AddDate(0, -3, 0), EndedAt: in(1).AddDate(0, -1, 0)},
		{ID: "sub_e", CustomerID: "erin", MonthlyPriceCents: 500, StartedAt: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)},
	}
	now := time.Date(2026, 6, 1, 0, 0, 1, 0, time.UTC)
	invs := orders.BuildInvoices(m, shipments, subs, now)
	if len(invs) != 2 {
		t.Fatalf("invoices = %+v, want alice and carol", invs)
	}
	alice, carol := invs[0], invs[1]
	if alice.CustomerID != "alice" || alice.TotalCents != 1000+500+100+999 || len(alice.Lines) != 4 || alice.Month != m {
		t.Errorf("alice = %+v", alice)
	}
	if carol.CustomerID != "carol" || carol.TotalCents != 500 || carol.Lines[0].Kind != orders.LineSubscription {
		t.Errorf("carol = %+v", carol)
	}
	if alice.ID != orders.InvoiceID("alice", m) || alice.ID == orders.InvoiceID("alice", m.Prev()) || alice.ID == orders.InvoiceID("bob", m) {
		t.Error("invoice ids are not per customer and month")
	}
}

func TestDerivedIDsAreStable(t *testing.T) {
	if first, again := orders.ShipmentCreatedID("42"), orders.ShipmentCreatedID("42"); first != again || first == orders.ShipmentCreatedID("43") {
		t.Error("ShipmentCreatedID is not a stable function of the order")
	}
	a := orders.StockInsufficientID(orders.EventRef{Source: "hasura", ID: "e1"})
	if a != orders.StockInsufficientID(orders.EventRef{Source: "hasura", ID: "e1"}) || a == orders.StockInsufficientID(orders.EventRef{Source: "hasura", ID: "e2"}) {
		t.Error("StockInsufficientID is not a stable function of the cause")
	}
	x, err1 := orders.NewTrackingNumber()
	y, err2 := orders.NewTrackingNumber()
	if err1 != nil || err2 != nil || x == y || len(x) != 18 {
		t.Errorf("tracking numbers %q %q", x, y)
	}
}

func TestOrderChangeValidate(t *testing.T) {
	ok := &orders.OrderRow{ID: "1", CustomerID: "c", Items: []orders.Item{{SKU: "A", Quantity: 1}}}
	tests := []struct {
		name string
		c    orders.OrderChange
	}{
		{"no rows", orders.OrderChange{}},
		{"no id", orders.OrderChange{New: &orders.OrderRow{CustomerID: "c"}}},
		{"no customer", orders.OrderChange{New: &orders.OrderRow{ID: "1"}}},
		{"no sku", orders.OrderChange{New: &orders.OrderRow{ID: "1", CustomerID: "c", Items: []orders.Item{{Quantity: 1}}}}},
		{"zero quantity", orders.OrderChange{New: &orders.OrderRow{ID: "1", CustomerID: "c", Items: []orders.Item{{SKU: "A"}}}}},
		{"negative price", orders.OrderChange{New: &orders.OrderRow{ID: "1", CustomerID: "c", Items: []orders.Item{{SKU: "A", Quantity: 1, PriceCents: -1}}}}},
		{"id changes", orders.OrderChange{Old: &orders.OrderRow{ID: "2"}, New: ok}},
	}
	for _, tc := range tests {
		if err := tc.c.Validate(); !errors.Is(err, orders.ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", tc.name, err)
		}
	}
	if err := (orders.OrderChange{New: ok}).Validate(); err != nil {
		t.Errorf("valid change: %v", err)
	}
}

func TestPlanFulfilment(t *testing.T) {
	row := orders.OrderRow{ID: "42", CustomerID: "c1", Items: []orders.Item{{SKU: "A", Quantity: 2, PriceCents: 1999}}, TotalCents: 3998}
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	f, err := orders.PlanFulfilment(row, "c1@example.com", at, at.Add(time.Second), orders.EventRef{Source: "hasura", ID: "e1"}, orders.Trace{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Shipment.ID != orders.ShipmentID("42") || f.Fact.ID != orders.ShipmentCreatedID("42") || f.Notification.ID != orders.NotificationID("42") {
		t.Fatalf("ids = %+v", f)
	}
	d := f.Fact.Data
	if d["order_id"] != "42" || d["customer_email"] != "c1@example.com" || d["tracking_number"] != f.Shipment.TrackingNumber || d["total"] != "39.98" {
		t.Fatalf("fact data = %v", d)
	}
	var body struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(f.Notification.Body, &body); err != nil || body.Type != "shipment.created" || body.Data["tracking_number"] != f.Shipment.TrackingNumber {
		t.Fatalf("webhook body = %s (%v)", f.Notification.Body, err)
	}
	if _, ok := body.Data["customer_email"]; ok {
		t.Error("the fulfillment webhook carries the customer's email; it needs only the shipment")
	}
}

func TestDemand(t *testing.T) {
	got := orders.Demand([]orders.Item{{SKU: "B", Quantity: 1}, {SKU: "A", Quantity: 2}, {SKU: "B", Quantity: 3}})
	if len(got) != 2 || got[0] != (orders.Item{SKU: "A", Quantity: 2}) || got[1] != (orders.Item{SKU: "B", Quantity: 4}) {
		t.Fatalf("Demand = %+v", got)
	}
}
