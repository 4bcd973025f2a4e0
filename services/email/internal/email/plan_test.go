package email_test

import (
	"context"
	"errors"
	"net/mail"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/services/email/internal/email"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var now = time.Date(2024, 3, 5, 9, 0, 0, 0, time.UTC)

func mustStruct(t testing.TB, m map[string]any) *structpb.Struct {
	t.Helper()
	if m == nil {
		return nil
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func userEvent(t testing.TB, id, op string, old, new map[string]any) *eventv1.Event {
	ops := map[string]eventv1.HasuraOperation{"insert": eventv1.HasuraOperation_HASURA_OPERATION_INSERT, "update": eventv1.HasuraOperation_HASURA_OPERATION_UPDATE,
		"delete": eventv1.HasuraOperation_HASURA_OPERATION_DELETE}
	return &eventv1.Event{
		Id: id, Source: "hasura", Type: "hasura.public.users." + op, Subject: "public.users/1",
		Payload: &eventv1.Event_HasuraTable{HasuraTable: &eventv1.HasuraTableEvent{
			Op: ops[op], Schema: "public", Table: "users", Old: mustStruct(t, old), New: mustStruct(t, new),
		}},
	}
}

func factEvent(t testing.TB, id, typ string, data map[string]any) *eventv1.Event {
	v, err := structpb.NewValue(data)
	if err != nil {
		t.Fatal(err)
	}
	return &eventv1.Event{Id: id, Source: "orders", Type: typ, Payload: &eventv1.Event_Fact{Fact: &eventv1.ServiceFact{Service: "orders", Data: v}}}
}

func cronEvent(t testing.TB, id, typ string, due time.Time, payload map[string]any) *eventv1.Event {
	sched := &eventv1.ScheduledEvent{Kind: eventv1.ScheduledKind_SCHEDULED_KIND_CRON, Name: strings.TrimPrefix(strings.TrimPrefix(typ, "hasura."), "cron."), ScheduledTime: timestamppb.New(due)}
	if payload != nil {
		v, err := structpb.NewValue(payload)
		if err != nil {
			t.Fatal(err)
		}
		sched.Payload = v
	}
	return &eventv1.Event{Id: id, Source: "cron", Type: typ, Payload: &eventv1.Event_Scheduled{Scheduled: sched}}
}

// reports is a ReportSource fake at the analytics seam: it records queries.
type reports struct {
	figures []email.Figure
	err     error
	queries []email.ReportQuery
}

func (r *reports) Report(_ context.Context, q email.ReportQuery) (email.Report, error) {
	r.queries = append(r.queries, q)
	return email.Report{Figures: r.figures}, r.err
}

func tokens(t testing.TB) *email.Tokens {
	tk, err := email.NewTokens([]byte("0123456789abcdef-test-secret"), 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestPlan(t *testing.T) {
	ops := []mail.Address{{Address: "ops@example.com"}, {Name: "CEO", Address: "ceo@example.com"}}
	for _, tc := range []struct {
		name    string
		ev      *eventv1.Event
		want    []email.Draft // Data compared except for the verification link
		wantErr error
	}{
		{
			name: "welcome",
			ev:   userEvent(t, "e1", "insert", nil, map[string]any{"id": 42.0, "email": " ada@example.com ", "name": "Ada\nLovelace"}),
			want: []email.Draft{{Kind: email.KindWelcome, To: []mail.Address{{Name: "Ada Lovelace", Address: "ada@example.com"}},
				Data: email.WelcomeData{Name: "Ada Lovelace", Email: "ada@example.com", UserID: "42"}}},
		},
		{
			name: "welcome with uuid id and no name",
			ev:   userEvent(t, "e1", "insert", nil, map[string]any{"id": "123e4567-e89b-12d3-a456-426614174000", "email": "x@example.com"}),
			want: []email.Draft{{Kind: email.KindWelcome, To: []mail.Address{{Address: "x@example.com"}},
				Data: email.WelcomeData{Email: "x@example.com", UserID: "123e4567-e89b-12d3-a456-426614174000"}}},
		},
		{name: "welcome without address", ev: userEvent(t, "e1", "insert", nil, map[string]any{"id": 1.0, "name": "A"}), wantErr: email.ErrInvalid},
		{name: "welcome with a bad address", ev: userEvent(t, "e1", "insert", nil, map[string]any{"id": 1.0, "email": "not an address"}), wantErr: email.ErrInvalid},
		{name: "welcome with header injection", ev: userEvent(t, "e1", "insert", nil, map[string]any{"email": "a@example.com\r\nBcc: b@example.com"}), wantErr: email.ErrInvalid},
		{name: "welcome with email null", ev: userEvent(t, "e1", "insert", nil, map[string]any{"email": nil}), wantErr: email.ErrInvalid},
		{name: "insert without a row", ev: userEvent(t, "e1", "insert", nil, nil), wantErr: email.ErrInvalid},
		{name: "users insert that is not a table event", ev: &eventv1.Event{Id: "e", Source: "hasura", Type: "hasura.public.users.insert"}, wantErr: email.ErrInvalid},
		{
			name: "update with a new address",
			ev:   userEvent(t, "e2", "update", map[string]any{"id": 42.0, "email": "old@example.com"}, map[string]any{"id": 42.0, "email": "new@example.com", "name": "Ada"}),
			want: []email.Draft{{Kind: email.KindVerifyEmail, To: []mail.Address{{Name: "Ada", Address: "new@example.com"}},
				Data: email.VerifyData{Name: "Ada", Email: "new@example.com", UserID: "42", Expires: now.Add(48 * time.Hour)}}},
		},
		{name: "update of the name only", ev: userEvent(t, "e2", "update", map[string]any{"id": 1.0, "email": "a@example.com", "name": "A"}, map[string]any{"id": 1.0, "email": "a@example.com", "name": "B"})},
		{name: "update removing the address", ev: userEvent(t, "e2", "update", map[string]any{"id": 1.0, "email": "a@example.com"}, map[string]any{"id": 1.0, "email": nil})},
		{name: "update to a bad address", ev: userEvent(t, "e2", "update", map[string]any{"id": 1.0, "email": "a@example.com"}, map[string]any{"id": 1.0, "email": "nope"}), wantErr: email.ErrInvalid},
		{name: "update without user id", ev: userEvent(t, "e2", "update", map[string]any{"email": "a@example.com"}, map[string]any{"email": "b@example.com"}), wantErr: email.ErrInvalid},
		{
			name: "shipment created",
			ev: factEvent(t, "f1", "orders.shipment.created", map[string]any{
				"order_id": 1001.0, "customer_email": "bob@example.com", "total": "59.97", "tracking_number": "TRK1",
				"items": []any{map[string]any{"sku": "MUG", "quantity": 2.0, "price": 9.99}, map[string]any{"sku": "TEE", "quantity": "1", "price": "39.99"}},
			}),
			want: []email.Draft{{Kind: email.KindOrderConfirmation, To: []mail.Address{{Address: "bob@example.com"}},
				Data: email.OrderData{OrderID: "1001", Email: "bob@example.com", Total: "59.97", TrackingNumber: "TRK1",
					Items: []email.Item{{SKU: "MUG", Quantity: 2, Price: "9.99"}, {SKU: "TEE", Quantity: 1, Price: "39.99"}}}}},
		},
		{
			name: "shipment with nested customer",
			ev:   factEvent(t, "f1", "orders.shipment.created", map[string]any{"order_id": "A-1", "customer": map[string]any{"email": "c@example.com", "name": "Cy"}}),
			want: []email.Draft{{Kind: email.KindOrderConfirmation, To: []mail.Address{{Name: "Cy", Address: "c@example.com"}},
				Data: email.OrderData{OrderID: "A-1", Name: "Cy", Email: "c@example.com"}}},
		},
		{name: "shipment without customer address", ev: factEvent(t, "f1", "orders.shipment.created", map[string]any{"order_id": 1.0}), wantErr: email.ErrInvalid},
		{name: "shipment without order id", ev: factEvent(t, "f1", "orders.shipment.created", map[string]any{"customer_email": "a@example.com"}), wantErr: email.ErrInvalid},
		{name: "shipment with a bad total", ev: factEvent(t, "f1", "orders.shipment.created", map[string]any{"order_id": 1.0, "customer_email": "a@example.com", "total": "lots"}), wantErr: email.ErrInvalid},
		{name: "shipment with a bad quantity", ev: factEvent(t, "f1", "orders.shipment.created", map[string]any{"order_id": 1.0, "customer_email": "a@example.com", "items": []any{map[string]any{"sku": "X", "quantity": 1.5}}}), wantErr: email.ErrInvalid},
		{name: "shipment with a bad price", ev: factEvent(t, "f1", "orders.shipment.created", map[string]any{"order_id": 1.0, "customer_email": "a@example.com", "items": []any{map[string]any{"sku": "X", "quantity": 1.0, "price": true}}}), wantErr: email.ErrInvalid},
		{name: "shipment that is not a fact", ev: &eventv1.Event{Id: "f", Source: "orders", Type: "orders.shipment.created"}, wantErr: email.ErrInvalid},
		{
			name: "stock insufficient",
			ev: factEvent(t, "f2", "orders.stock.insufficient", map[string]any{"order_id": 7.0, "customer_email": "bob@example.com",
				"items":     []any{map[string]any{"sku": "MUG", "quantity": 5.0}, map[string]any{"sku": "CAP", "quantity": 1.0}, map[string]any{"sku": "TEE", "quantity": 1.0}},
				"shortages": []any{map[string]any{"sku": "MUG", "requested": 5.0, "available": 2.0}, map[string]any{"sku": "CAP", "quantity": 1.0}}}),
			want: []email.Draft{{Kind: email.KindBackOrder, To: []mail.Address{{Address: "bob@example.com"}},
				Data: email.BackOrderData{OrderID: "7", Email: "bob@example.com",
					Missing: []email.MissingItem{{SKU: "MUG", Requested: 5, Available: 2}, {SKU: "CAP", Requested: 1, Available: -1}}}}},
		},
		{
			name: "stock insufficient, other spelling",
			ev:   factEvent(t, "f2", "orders.stock.insufficient", map[string]any{"order_id": "9", "email": "c@example.com", "missing_items": []any{map[string]any{"sku": "X"}}}),
			want: []email.Draft{{Kind: email.KindBackOrder, To: []mail.Address{{Address: "c@example.com"}},
				Data: email.BackOrderData{OrderID: "9", Email: "c@example.com", Missing: []email.MissingItem{{SKU: "X", Available: -1}}}}},
		},
		{name: "stock insufficient without address", ev: factEvent(t, "f2", "orders.stock.insufficient", map[string]any{"order_id": 7.0}), wantErr: email.ErrInvalid},
		{name: "stock insufficient without order id", ev: factEvent(t, "f2", "orders.stock.insufficient", map[string]any{"email": "a@example.com"}), wantErr: email.ErrInvalid},
		{name: "stock insufficient item without sku", ev: factEvent(t, "f2", "orders.stock.insufficient", map[string]any{"order_id": 7.0, "email": "a@example.com", "missing": []any{map[string]any{"requested": 1.0}}}), wantErr: email.ErrInvalid},
		{name: "stock insufficient item not an object", ev: factEvent(t, "f2", "orders.stock.insufficient", map[string]any{"order_id": 7.0, "email": "a@example.com", "missing": []any{"MUG"}}), wantErr: email.ErrInvalid},
		{
			name: "daily report",
			ev:   cronEvent(t, "c1", "cron.daily-report", time.Date(2024, 3, 5, 9, 0, 0, 0, time.UTC), map[string]any{"report_type": "daily_summary"}),
			want: []email.Draft{{Kind: email.KindDailyReport, To: ops, Data: email.ReportData{Period: email.PeriodDaily,
				Start: time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC), TimeZone: "UTC",
				Figures: []email.Figure{{Label: "user_registered", Value: "3"}}}}},
		},
		{name: "report with a bad time zone", ev: cronEvent(t, "c1", "cron.daily-report", now, map[string]any{"timezone": "Mars/Olympus"}), wantErr: email.ErrInvalid},
		{name: "report without a time", ev: &eventv1.Event{Id: "c", Source: "cron", Type: "cron.daily-report"}, wantErr: email.ErrInvalid},
		{name: "other event", ev: &eventv1.Event{Id: "x", Source: "stripe", Type: "stripe.payment_intent.succeeded"}},
		{name: "users delete", ev: userEvent(t, "d", "delete", map[string]any{"email": "a@example.com"}, nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &email.Planner{PublicURL: "https://api.example.com/", Tokens: tokens(t), ReportRecipients: ops,
				Reports: &reports{figures: []email.Figure{{Label: "user_registered", Value: "3"}}}, Now: func() time.Time { return now }}
			got, err := p.Plan(t.Context(), tc.ev)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Plan error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d drafts, want %d: %+v", len(got), len(tc.want), got)
			}
			for i := range got {
				if vd, ok := got[i].Data.(email.VerifyData); ok {
					checkLink(t, p.Tokens, vd)
					vd.Link = ""
					got[i].Data = vd
				}
				if !equalDraft(got[i], tc.want[i]) {
					t.Errorf("draft %d:\n got %+v\nwant %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func equalDraft(a, b email.Draft) bool {
	if a.Kind != b.Kind || len(a.To) != len(b.To) {
		return false
	}
	for i := range a.To {
		if a.To[i] != b.To[i] {
			return false
		}
	}
	ar, aok := a.Data.(email.ReportData)
	br, bok := b.Data.(email.ReportData)
	if aok && bok {
		return ar.Period == br.Period && ar.Start.Equal(br.Start) && ar.End.Equal(br.End) && ar.TimeZone == br.TimeZone &&
			reflect.DeepEqual(ar.Figures, br.Figures)
	}
	return reflect.DeepEqual(a.Data, b.Data)
}

func checkLink(t *testing.T, tk *email.Tokens, vd email.VerifyData) {
	t.Helper()
	u, err := url.Parse(vd.Link)
	if err != nil || u.Scheme != "https" || u.Host != "api.example.com" || u.Path != "/v1/email/verify" {
		t.Fatalf("link %q (%v)", vd.Link, err)
	}
	c, err := tk.Verify(u.Query().Get("token"), now)
	if err != nil || c.UserID != vd.UserID || c.Email != vd.Email || !c.Expires.Equal(vd.Expires) {
		t.Fatalf("link token: %+v, %v", c, err)
	}
}

func TestPlanReports(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	for _, tc := range []struct {
		name       string
		typ        string
		due        time.Time
		payload    map[string]any
		wantPeriod email.Period
		wantStart  time.Time
		wantEnd    time.Time
	}{
		{"hasura daily", "hasura.cron.daily-report", time.Date(2024, 3, 5, 9, 0, 0, 0, time.UTC), nil, email.PeriodDaily,
			time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)},
		// 00:30 UTC on 5 March is already 01:30 on 5 March in Berlin.
		{"daily in the schedule's zone", "cron.daily-report", time.Date(2024, 3, 5, 0, 30, 0, 0, time.UTC), map[string]any{"timezone": "Europe/Berlin"}, email.PeriodDaily,
			time.Date(2024, 3, 4, 0, 0, 0, 0, berlin), time.Date(2024, 3, 5, 0, 0, 0, 0, berlin)},
		// The DST day (31 March 2024) is 23 hours long.
		{"daily over DST", "cron.daily-report", time.Date(2024, 4, 1, 7, 0, 0, 0, time.UTC), map[string]any{"timezone": "Europe/Berlin"}, email.PeriodDaily,
			time.Date(2024, 3, 31, 0, 0, 0, 0, berlin), time.Date(2024, 4, 1, 0, 0, 0, 0, berlin)},
		{"weekly", "cron.weekly-report", time.Date(2024, 3, 4, 9, 0, 0, 0, time.UTC), nil, email.PeriodWeekly,
			time.Date(2024, 2, 26, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)},
		{"hasura weekly", "hasura.cron.weekly-report", time.Date(2024, 3, 4, 9, 0, 0, 0, time.UTC), map[string]any{"timezone": "Europe/Berlin"}, email.PeriodWeekly,
			time.Date(2024, 2, 26, 0, 0, 0, 0, berlin), time.Date(2024, 3, 4, 0, 0, 0, 0, berlin)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &reports{}
			p := &email.Planner{ReportRecipients: []mail.Address{{Address: "ops@example.com"}}, Reports: src, Now: func() time.Time { return now }}
			drafts, err := p.Plan(t.Context(), cronEvent(t, "c", tc.typ, tc.due, tc.payload))
			if err != nil || len(drafts) != 1 || len(src.queries) != 1 {
				t.Fatalf("Plan = %v, %v; %d queries", drafts, err, len(src.queries))
			}
			q := src.queries[0]
			if q.Period != tc.wantPeriod || !q.Start.Equal(tc.wantStart) || !q.End.Equal(tc.wantEnd) {
				t.Errorf("query %s [%v, %v), want %s [%v, %v)", q.Period, q.Start, q.End, tc.wantPeriod, tc.wantStart, tc.wantEnd)
			}
		})
	}

	for _, tc := range []struct {
		name    string
		p       email.Planner
		wantErr error
	}{
		{"no recipients", email.Planner{Reports: &reports{}}, email.ErrNotConfigured},
		{"no analytics client", email.Planner{ReportRecipients: []mail.Address{{Address: "a@example.com"}}}, email.ErrNotConfigured},
		{"analytics down", email.Planner{ReportRecipients: []mail.Address{{Address: "a@example.com"}},
			Reports: &reports{err: email.Retry(time.Second, email.ErrUnavailable)}}, email.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.p.Plan(t.Context(), cronEvent(t, "c", "cron.daily-report", now, nil))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Plan = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestTokens(t *testing.T) {
	tk := tokens(t)
	tok, exp, err := tk.Sign("42", "ada@example.com", now)
	if err != nil || !exp.Equal(now.Add(48*time.Hour)) {
		t.Fatalf("Sign = %v, %v", exp, err)
	}
	other, err := email.NewTokens([]byte("another-secret-of-16+bytes"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	for _, tc := range []struct {
		name    string
		tk      *email.Tokens
		token   string
		at      time.Time
		wantErr error
	}{
		{"valid", tk, tok, now.Add(47 * time.Hour), nil},
		{"expired", tk, tok, now.Add(48 * time.Hour), email.ErrExpired},
		{"other secret", other, tok, now, email.ErrInvalid},
		{"tampered body", tk, parts[0] + "." + parts[1] + "x." + parts[2], now, email.ErrInvalid},
		{"tampered signature", tk, parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])), now, email.ErrInvalid},
		{"bad base64 signature", tk, parts[0] + "." + parts[1] + ".!!", now, email.ErrInvalid},
		{"wrong version", tk, "v2." + parts[1] + "." + parts[2], now, email.ErrInvalid},
		{"empty", tk, "", now, email.ErrInvalid},
		{"two parts", tk, "v1.abc", now, email.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.tk.Verify(tc.token, tc.at)
			if tc.wantErr == nil {
				if err != nil || c.UserID != "42" || c.Email != "ada@example.com" {
					t.Fatalf("Verify = %+v, %v", c, err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Verify = %v, want %v", err, tc.wantErr)
			}
		})
	}
	t.Run("short secret", func(t *testing.T) {
		if _, err := email.NewTokens([]byte("short"), time.Hour); !errors.Is(err, email.ErrNotConfigured) {
			t.Fatalf("NewTokens = %v", err)
		}
	})
	t.Run("zero lifetime", func(t *testing.T) {
		if _, err := email.NewTokens([]byte("0123456789abcdef"), 0); err == nil {
			t.Fatal("NewTokens accepted a zero lifetime")
		}
	})
}

func FuzzVerifyToken(f *testing.F) {
	tk := tokens(f)
	tok, _, _ := tk.Sign("1", "a@example.com", now)
	f.Add(tok)
	f.Add("v1..")
	f.Add("v1.e30.")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := tk.Verify(s, now)
		if err == nil && (c.UserID == "" || c.Email == "") {
			t.Fatalf("accepted an incomplete token %q", s)
		}
	})
}

// directory is a Customers fake at the store seam.
type directory struct {
	customers map[string]email.Customer
	err       error
	lookups   []string
}

func (d *directory) Customer(_ context.Context, id string) (email.Customer, bool, error) {
	d.lookups = append(d.lookups, id)
	c, ok := d.customers[id]
	return c, ok, d.err
}

func TestPlanResolvesCustomer(t *testing.T) {
	known := map[string]email.Customer{
		"7":    {ID: "7", Email: "grace@example.com", Name: "Grace"},
		"u-1":  {ID: "u-1", Email: "uma@example.com"},
		"gone": {ID: "gone", Deleted: true},
		"bare": {ID: "bare", Name: "No Address"},
	}
	shipment := func(data map[string]any) *eventv1.Event {
		return factEvent(t, "f", "orders.shipment.created", data)
	}
	for _, tc := range []struct {
		name       string
		ev         *eventv1.Event
		dirErr     error
		want       mail.Address
		wantLookup bool
		wantErr    error
	}{
		{name: "numeric customer_id", ev: shipment(map[string]any{"order_id": "1", "customer_id": 7.0}),
			want: mail.Address{Name: "Grace", Address: "grace@example.com"}, wantLookup: true},
		{name: "string customer_id", ev: shipment(map[string]any{"order_id": "1", "customer_id": " 7 "}),
			want: mail.Address{Name: "Grace", Address: "grace@example.com"}, wantLookup: true},
		{name: "nested customer id", ev: shipment(map[string]any{"order_id": "1", "customer": map[string]any{"id": "u-1"}}),
			want: mail.Address{Address: "uma@example.com"}, wantLookup: true},
		{name: "the fact's address wins", ev: shipment(map[string]any{"order_id": "1", "customer_id": 7.0, "customer_email": "desk@example.com"}),
			want: mail.Address{Address: "desk@example.com"}},
		{name: "the fact's name wins", ev: shipment(map[string]any{"order_id": "1", "customer_id": 7.0, "customer_name": "G. Hopper"}),
			want: mail.Address{Name: "G. Hopper", Address: "grace@example.com"}, wantLookup: true},
		{name: "unusable fact address falls back", ev: shipment(map[string]any{"order_id": "1", "customer_id": 7.0, "customer_email": "not an address"}),
			want: mail.Address{Name: "Grace", Address: "grace@example.com"}, wantLookup: true},
		{name: "back order by customer_id", ev: factEvent(t, "f", "orders.stock.insufficient", map[string]any{"order_id": "1", "customer_id": "7"}),
			want: mail.Address{Name: "Grace", Address: "grace@example.com"}, wantLookup: true},
		{name: "unknown customer", ev: shipment(map[string]any{"order_id": "1", "customer_id": 8.0}), wantErr: email.ErrUnavailable, wantLookup: true},
		{name: "unknown customer, back order", ev: factEvent(t, "f", "orders.stock.insufficient", map[string]any{"order_id": "1", "customer_id": 8.0}),
			wantErr: email.ErrUnavailable, wantLookup: true},
		{name: "deleted customer", ev: shipment(map[string]any{"order_id": "1", "customer_id": "gone"}), wantErr: email.ErrInvalid, wantLookup: true},
		{name: "customer without address", ev: shipment(map[string]any{"order_id": "1", "customer_id": "bare"}), wantErr: email.ErrInvalid, wantLookup: true},
		{name: "neither address nor customer_id", ev: shipment(map[string]any{"order_id": "1", "customer_name": "X"}), wantErr: email.ErrInvalid},
		{name: "a bad fact is invalid before the lookup", ev: shipment(map[string]any{"customer_id": 8.0}), wantErr: email.ErrInvalid},
		{name: "a bad back order is invalid before the lookup", ev: factEvent(t, "f", "orders.stock.insufficient", map[string]any{"order_id": "1", "customer_id": 8.0, "missing": []any{"MUG"}}),
			wantErr: email.ErrInvalid},
		{name: "directory fails", ev: shipment(map[string]any{"order_id": "1", "customer_id": 7.0}), dirErr: errors.New("database is down"), wantLookup: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := &directory{customers: known, err: tc.dirErr}
			p := &email.Planner{Customers: dir, CustomerRetry: 3 * time.Second, Now: func() time.Time { return now }}
			drafts, err := p.Plan(t.Context(), tc.ev)
			if got := len(dir.lookups) > 0; got != tc.wantLookup {
				t.Errorf("looked up %v, want a lookup: %v", dir.lookups, tc.wantLookup)
			}
			switch {
			case tc.dirErr != nil:
				if !errors.Is(err, tc.dirErr) || errors.Is(err, email.ErrInvalid) || errors.Is(err, email.ErrUnavailable) {
					t.Fatalf("Plan = %v, want the directory's error (retried as INTERNAL)", err)
				}
				return
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Plan = %v, want %v", err, tc.wantErr)
				}
				if errors.Is(tc.wantErr, email.ErrUnavailable) && email.RetryAfter(err, 0) != 3*time.Second {
					t.Errorf("retry after %v, want the planner's 3s", email.RetryAfter(err, 0))
				}
				return
			case err != nil:
				t.Fatalf("Plan: %v", err)
			}
			if len(drafts) != 1 || len(drafts[0].To) != 1 || drafts[0].To[0] != tc.want {
				t.Fatalf("drafts = %+v, want one to %v", drafts, tc.want)
			}
			switch d := drafts[0].Data.(type) {
			case email.OrderData:
				if d.Email != tc.want.Address || d.Name != tc.want.Name {
					t.Errorf("template data %+v", d)
				}
			case email.BackOrderData:
				if d.Email != tc.want.Address || d.Name != tc.want.Name {
					t.Errorf("template data %+v", d)
				}
			}
		})
	}

	t.Run("default retry delay", func(t *testing.T) {
		p := &email.Planner{Customers: &directory{}}
		_, err := p.Plan(t.Context(), shipment(map[string]any{"order_id": "1", "customer_id": 1.0}))
		if !errors.Is(err, email.ErrUnavailable) || email.RetryAfter(err, 0) != email.DefaultCustomerRetry {
			t.Fatalf("Plan = %v (retry after %v), want ErrUnavailable after %v", err, email.RetryAfter(err, 0), email.DefaultCustomerRetry)
		}
	})
	t.Run("no directory", func(t *testing.T) {
		p := &email.Planner{}
		_, err := p.Plan(t.Context(), shipment(map[string]any{"order_id": "1", "customer_id": 1.0}))
		if !errors.Is(err, email.ErrNotConfigured) {
			t.Fatalf("Plan = %v, want ErrNotConfigured", err)
		}
	})
}
