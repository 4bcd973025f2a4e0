package analytics

import (
	"errors"
	"slices"
	"testing"
	"time"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var now = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

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

func mustValue(t testing.TB, v any) *structpb.Value {
	t.Helper()
	out, err := structpb.NewValue(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func hasura(t testing.TB, typ string, op eventv1.HasuraOperation, oldRow, newRow map[string]any) *eventv1.Event {
	return &eventv1.Event{
		Id: "evt-1", Source: "hasura", Type: typ,
		Time: timestamppb.New(now.Add(-time.Hour)),
		Payload: &eventv1.Event_HasuraTable{HasuraTable: &eventv1.HasuraTableEvent{
			Op: op, Schema: "public", Old: mustStruct(t, oldRow), New: mustStruct(t, newRow),
		}},
	}
}

func provider(t testing.TB, typ, kind string, body map[string]any) *eventv1.Event {
	return &eventv1.Event{
		Id: "evt-2", Source: kind, Type: typ,
		ReceivedTime: timestamppb.New(now.Add(-2 * time.Hour)),
		Payload: &eventv1.Event_Provider{Provider: &eventv1.ProviderWebhook{
			Provider: kind, Payload: mustValue(t, body),
		}},
	}
}

func stripe(t testing.TB, typ string, object map[string]any) *eventv1.Event {
	return provider(t, "stripe."+typ, "stripe", map[string]any{"id": "evt_1", "type": typ, "data": map[string]any{"object": object}})
}

func newTracker(t testing.TB) *Tracker {
	t.Helper()
	tr, err := NewTracker(TrackerConfig{Retention: 90 * 24 * time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestTrack(t *testing.T) {
	upd := eventv1.HasuraOperation_HASURA_OPERATION_UPDATE
	ins := eventv1.HasuraOperation_HASURA_OPERATION_INSERT
	items := []any{map[string]any{"sku": "A", "quantity": 2, "price": 5}, map[string]any{"sku": "B", "quantity": 1, "price": 9.99}}
	tests := []struct {
		name    string
		ev      *eventv1.Event
		metrics []Metric
		users   []string
		props   map[string]any
		at      time.Time
	}{
		{
			name:    "user registered with default method",
			ev:      hasura(t, "hasura.public.users.insert", ins, nil, map[string]any{"id": 7, "email": "a@example.com", "name": "Ada"}),
			metrics: []Metric{{Name: UserRegistered}},
			users:   []string{"7"},
			props:   map[string]any{"registration_method": "email", "email": "a@example.com", "name": "Ada", "user_id": "7"},
			at:      now.Add(-time.Hour),
		},
		{
			name:    "user registered with method",
			ev:      hasura(t, "hasura.public.users.insert", ins, nil, map[string]any{"id": "u-1", "registration_method": "github"}),
			metrics: []Metric{{Name: UserRegistered}},
			users:   []string{"u-1"},
			props:   map[string]any{"registration_method": "github"},
		},
		{
			name: "email and name changed",
			ev: hasura(t, "hasura.public.users.update", upd,
				map[string]any{"id": 7, "email": "a@example.com", "name": "Ada"},
				map[string]any{"id": 7, "email": "b@example.com", "name": "Ada L"}),
			metrics: []Metric{{Name: UserEmailChanged}, {Name: UserNameChanged}},
			users:   []string{"7"},
			props:   map[string]any{"email": "b@example.com", "name": "Ada L"},
		},
		{
			name: "only name changed",
			ev: hasura(t, "hasura.public.users.update", upd,
				map[string]any{"id": 7, "email": "a@example.com", "name": "Ada"},
				map[string]any{"id": 7, "email": "a@example.com", "name": "Ada L"}),
			metrics: []Metric{{Name: UserNameChanged}},
			users:   []string{"7"},
		},
		{
			name: "nothing tracked changed",
			ev: hasura(t, "hasura.public.users.update", upd,
				map[string]any{"id": 7, "email": "a@example.com", "name": "Ada", "created_at": "x"},
				map[string]any{"id": 7, "email": "a@example.com", "name": "Ada", "created_at": "y"}),
		},
		{
			name: "order transition to completed",
			ev: hasura(t, "hasura.public.orders.update", upd,
				map[string]any{"id": 42, "customer_id": 7, "status": "paid"},
				map[string]any{"id": 42, "customer_id": 7, "status": "completed", "total": 19.99, "items": items}),
			metrics: []Metric{{Name: OrderCompleted, AmountCents: 1999, Items: 3}},
			users:   []string{"7"},
			props:   map[string]any{"amount": "19.99", "order_id": "42", "items": int64(3)},
		},
		{
			name: "order total as a numeric string",
			ev: hasura(t, "hasura.public.orders.update", upd,
				map[string]any{"id": 42, "customer_id": 7, "status": "paid"},
				map[string]any{"id": 42, "customer_id": 7, "status": "completed", "total": "1234.505"}),
			metrics: []Metric{{Name: OrderCompleted, AmountCents: 123451}},
			users:   []string{"7"},
		},
		{
			name:    "order inserted completed",
			ev:      hasura(t, "hasura.public.orders.insert", ins, nil, map[string]any{"id": 1, "customer_id": 8, "status": "completed", "total": 5}),
			metrics: []Metric{{Name: OrderCompleted, AmountCents: 500}},
			users:   []string{"8"},
		},
		{
			name: "completed order updated again",
			ev: hasura(t, "hasura.public.orders.update", upd,
				map[string]any{"id": 42, "customer_id": 7, "status": "completed", "total": 1},
				map[string]any{"id": 42, "customer_id": 7, "status": "completed", "total": 2}),
			users: []string{"7"},
		},
		{
			name: "order to another status",
			ev: hasura(t, "hasura.public.orders.update", upd,
				map[string]any{"id": 42, "customer_id": 7, "status": "new"},
				map[string]any{"id": 42, "customer_id": 7, "status": "paid"}),
			users: []string{"7"},
		},
		{
			name:  "order deleted",
			ev:    hasura(t, "hasura.public.orders.delete", eventv1.HasuraOperation_HASURA_OPERATION_DELETE, map[string]any{"id": 1, "status": "completed"}, nil),
			users: nil,
		},
		{
			name:    "payment succeeded",
			ev:      stripe(t, "payment_intent.succeeded", map[string]any{"id": "pi_1", "amount": 1000, "currency": "eur", "customer": "cus_1", "metadata": map[string]any{"order_id": "42", "user_id": "7"}}),
			metrics: []Metric{{Name: PaymentSucceeded}},
			users:   []string{"7"},
			props:   map[string]any{"payment_intent": "pi_1", "order_id": "42", "currency": "eur"},
			at:      now.Add(-2 * time.Hour),
		},
		{
			name:    "payment failed",
			ev:      stripe(t, "payment_intent.payment_failed", map[string]any{"id": "pi_2", "last_payment_error": map[string]any{"code": "card_declined"}}),
			metrics: []Metric{{Name: PaymentFailed}},
			props:   map[string]any{"failure_code": "card_declined"},
		},
		{
			name:    "subscription created",
			ev:      stripe(t, "customer.subscription.created", map[string]any{"id": "sub_1", "customer": "cus_1", "status": "active"}),
			metrics: []Metric{{Name: SubscriptionCreated}},
			props:   map[string]any{"subscription": "sub_1"},
		},
		{
			name:    "subscription deleted",
			ev:      stripe(t, "customer.subscription.deleted", map[string]any{"id": "sub_1"}),
			metrics: []Metric{{Name: SubscriptionCancelled}},
		},
		{
			name:  "github delivery",
			ev:    provider(t, "github.pull_request.opened", "github", map[string]any{"action": "opened", "repository": map[string]any{"full_name": "o/r"}, "sender": map[string]any{"login": "octo"}}),
			props: map[string]any{"repository": "o/r", "action": "opened", "sender": "octo"},
		},
		{
			name: "other stripe event counted by type only",
			ev:   stripe(t, "charge.refunded", map[string]any{"id": "ch_1"}),
		},
		{
			name: "acting hasura user is active",
			ev: func() *eventv1.Event {
				ev := hasura(t, "hasura.public.inventory.update", upd, map[string]any{"sku": "A"}, map[string]any{"sku": "A"})
				ev.GetHasuraTable().SessionVariables = map[string]string{"x-hasura-user-id": "99", "x-hasura-role": "user"}
				return ev
			}(),
			users: []string{"99"},
		},
		{
			name: "scheduled tick occurs at its due time",
			ev: &eventv1.Event{Id: "t1", Source: "cron", Type: "cron.daily-report", Time: timestamppb.New(now),
				Payload: &eventv1.Event_Scheduled{Scheduled: &eventv1.ScheduledEvent{Name: "daily-report", ScheduledTime: timestamppb.New(now.Add(-3 * time.Hour))}}},
			at: now.Add(-3 * time.Hour),
		},
		{
			name: "no times: now",
			ev:   &eventv1.Event{Id: "x", Source: "s", Type: "webhook.s.thing"},
			at:   now,
		},
	}
	tr := newTracker(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := tr.Track(tc.ev)
			if err != nil {
				t.Fatalf("Track: %v", err)
			}
			if rec.Type != tc.ev.GetType() || rec.Source != tc.ev.GetSource() || rec.EventID != tc.ev.GetId() {
				t.Errorf("identity = %s %s/%s", rec.Type, rec.Source, rec.EventID)
			}
			if !slices.Equal(rec.Metrics, tc.metrics) {
				t.Errorf("metrics = %+v, want %+v", rec.Metrics, tc.metrics)
			}
			wantName := tc.ev.GetType()
			if len(tc.metrics) > 0 {
				wantName = tc.metrics[0].Name
			}
			if rec.Name != wantName {
				t.Errorf("name = %q, want %q", rec.Name, wantName)
			}
			if !slices.Equal(rec.UserIDs, tc.users) {
				t.Errorf("users = %v, want %v", rec.UserIDs, tc.users)
			}
			for k, v := range tc.props {
				if rec.Properties[k] != v {
					t.Errorf("property %s = %#v, want %#v", k, rec.Properties[k], v)
				}
			}
			if !tc.at.IsZero() && !rec.OccurredAt.Equal(tc.at) {
				t.Errorf("occurred at %s, want %s", rec.OccurredAt, tc.at)
			}
			if !rec.CleanupBefore.IsZero() {
				t.Errorf("cleanup set for %s", tc.ev.GetType())
			}
		})
	}
}

func TestTrackCleanup(t *testing.T) {
	tr := newTracker(t)
	tick := func(typ string, due time.Time) *eventv1.Event {
		return &eventv1.Event{Id: "c", Source: "cron", Type: typ,
			Payload: &eventv1.Event_Scheduled{Scheduled: &eventv1.ScheduledEvent{Name: "cleanup", ScheduledTime: timestamppb.New(due)}}}
	}
	tests := []struct {
		name string
		ev   *eventv1.Event
		want time.Time
	}{
		{"hookmesh cron", tick("cron.cleanup", now.Add(-time.Hour)), now.Add(-time.Hour).Add(-90 * 24 * time.Hour)},
		{"hasura cron", tick("hasura.cron.cleanup", now.Add(-time.Hour)), now.Add(-time.Hour).Add(-90 * 24 * time.Hour)},
		{"replayed old tick deletes less", tick("cron.cleanup", now.AddDate(0, 0, -30)), now.AddDate(0, 0, -30).Add(-90 * 24 * time.Hour)},
		{"tick from the future deletes no more than now allows", tick("cron.cleanup", now.Add(48*time.Hour)), now.Add(-90 * 24 * time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := tr.Track(tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			if !rec.CleanupBefore.Equal(tc.want) {
				t.Errorf("cleanup before %s, want %s", rec.CleanupBefore, tc.want)
			}
		})
	}
}

func TestTrackRejects(t *testing.T) {
	upd := eventv1.HasuraOperation_HASURA_OPERATION_UPDATE
	ins := eventv1.HasuraOperation_HASURA_OPERATION_INSERT
	completed := func(extra map[string]any) *eventv1.Event {
		row := map[string]any{"id": 1, "customer_id": 2, "status": "completed"}
		for k, v := range extra {
			row[k] = v
		}
		return hasura(t, "hasura.public.orders.update", upd, map[string]any{"status": "paid"}, row)
	}
	tests := []struct {
		name string
		ev   *eventv1.Event
	}{
		{"nil event", nil},
		{"no id", &eventv1.Event{Source: "s", Type: "t.x"}},
		{"no source", &eventv1.Event{Id: "1", Type: "t.x"}},
		{"blank type", &eventv1.Event{Id: "1", Source: "s", Type: "  "}},
		{"user insert without row", hasura(t, "hasura.public.users.insert", ins, nil, nil)},
		{"user insert without id", hasura(t, "hasura.public.users.insert", ins, nil, map[string]any{"email": "a@example.com"})},
		{"user change without id", hasura(t, "hasura.public.users.update", upd, map[string]any{"email": "a"}, map[string]any{"email": "b"})},
		{"negative total", completed(map[string]any{"total": -1})},
		{"total not a number", completed(map[string]any{"total": "abc"})},
		{"total a bool", completed(map[string]any{"total": true})},
		{"huge total", completed(map[string]any{"total": 1e300})},
		{"items not a list", completed(map[string]any{"items": "many"})},
		{"item without quantity", completed(map[string]any{"items": []any{map[string]any{"sku": "A"}}})},
		{"fractional quantity", completed(map[string]any{"items": []any{map[string]any{"quantity": 1.5}}})},
		{"stripe without data.object", provider(t, "stripe.payment_intent.succeeded", "stripe", map[string]any{"id": "evt"})},
		{"subscription without data.object", provider(t, "stripe.customer.subscription.created", "stripe", map[string]any{"data": "x"})},
	}
	tr := newTracker(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tr.Track(tc.ev); !errors.Is(err, ErrInvalid) {
				t.Errorf("Track = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestParseDecimalCents(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"12", 1200, true}, {"12.5", 1250, true}, {"12.50", 1250, true},
		{"12.345", 1235, true}, {"12.344", 1234, true}, {"0.005", 1, true}, {" 7.1 ", 710, true},
		{"", 0, false}, {".5", 0, false}, {"-1", 0, false}, {"1e3", 0, false}, {"1.2.3", 0, false},
		{"12345678901234", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseDecimalCents(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("parseDecimalCents(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestFormatCents(t *testing.T) {
	for in, want := range map[int64]string{0: "0.00", 5: "0.05", 1250: "12.50", -1250: "-12.50", 100000: "1000.00"} {
		if got := FormatCents(in); got != want {
			t.Errorf("FormatCents(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestTrackerConfig(t *testing.T) {
	if _, err := NewTracker(TrackerConfig{Retention: time.Minute}); err == nil {
		t.Error("NewTracker accepted a retention under an hour")
	}
	tr, err := NewTracker(TrackerConfig{})
	if err != nil || tr.cfg.Retention != DefaultRetention {
		t.Errorf("default retention = %v, %v", tr.cfg.Retention, err)
	}
}

// FuzzTrack checks that no event, however malformed, panics the tracker, and that an
// accepted one is self-consistent.
func FuzzTrack(f *testing.F) {
	seed := hasura(f, "hasura.public.orders.update", eventv1.HasuraOperation_HASURA_OPERATION_UPDATE,
		map[string]any{"status": "paid"}, map[string]any{"id": 1, "status": "completed", "total": "3.50", "items": []any{map[string]any{"quantity": 2}}})
	b, err := proto.Marshal(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	b, _ = proto.Marshal(stripe(f, "payment_intent.succeeded", map[string]any{"metadata": map[string]any{"user_id": 3}}))
	f.Add(b)
	tr := newTracker(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev eventv1.Event
		if proto.Unmarshal(data, &ev) != nil {
			return
		}
		rec, err := tr.Track(&ev)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		if rec.Name == "" || rec.OccurredAt.IsZero() {
			t.Fatalf("incomplete record %+v", rec)
		}
		for _, m := range rec.Metrics {
			if m.AmountCents < 0 || m.Items < 0 {
				t.Fatalf("negative metric %+v", m)
			}
		}
	})
}
