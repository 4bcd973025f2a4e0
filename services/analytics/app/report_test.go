package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/analytics/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/telemetry"
)

// dataset is a known set of demo-route events around three days, relative to now
// so that the cleanup tick is never "in the future".
type dataset struct {
	monday, day, old time.Time // the week's Monday, the report day (Tuesday), a day 100 days before
	cleanupAt        time.Time // the cleanup tick, the next Tuesday
	events           []*eventv1.Event
	seq              int
}

func newDataset(t testing.TB) *dataset {
	now := time.Now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	monday := today.AddDate(0, 0, -35-(int(today.Weekday())+6)%7)
	d := &dataset{monday: monday, day: monday.AddDate(0, 0, 1), old: monday.AddDate(0, 0, 1-100), cleanupAt: monday.AddDate(0, 0, 8).Add(2 * time.Hour)}

	at := func(day time.Time, h int) time.Time { return day.Add(time.Duration(h)*time.Hour + 17*time.Minute) }
	user := func(day time.Time, h int, id, email, name string) {
		d.hasura(t, "users", eventv1.HasuraOperation_HASURA_OPERATION_INSERT, at(day, h), nil, map[string]any{"id": id, "email": email, "name": name})
	}
	user(d.day, 9, "1", "a@example.com", "Ada")
	user(d.day, 9, "2", "b@example.com", "Bob")
	user(d.day, 10, "3", "c@example.com", "Cy")
	upd := eventv1.HasuraOperation_HASURA_OPERATION_UPDATE
	d.hasura(t, "users", upd, at(d.day, 11), map[string]any{"id": "1", "email": "a@example.com", "name": "Ada"}, map[string]any{"id": "1", "email": "ada@example.com", "name": "Ada"})
	d.hasura(t, "users", upd, at(d.day, 11), map[string]any{"id": "2", "email": "b@example.com", "name": "Bob"}, map[string]any{"id": "2", "email": "b@example.com", "name": "Robert"})
	d.hasura(t, "users", upd, at(d.day, 11), map[string]any{"id": "3", "email": "c@example.com", "name": "Cy"}, map[string]any{"id": "3", "email": "c@example.com", "name": "Cy"})
	items := func(q ...float64) []any {
		var out []any
		for _, n := range q {
			out = append(out, map[string]any{"sku": "S", "quantity": n, "price": 1})
		}
		return out
	}
	d.hasura(t, "orders", upd, at(d.day, 12), map[string]any{"id": 10, "customer_id": "1", "status": "paid"},
		map[string]any{"id": 10, "customer_id": "1", "status": "completed", "total": "25.50", "items": items(2, 1)})
	d.hasura(t, "orders", eventv1.HasuraOperation_HASURA_OPERATION_INSERT, at(d.day, 13), nil,
		map[string]any{"id": 11, "customer_id": "4", "status": "completed", "total": 10, "items": items(1)})
	d.hasura(t, "orders", upd, at(d.day, 14), map[string]any{"id": 10, "customer_id": "1", "status": "completed", "total": "25.50"},
		map[string]any{"id": 10, "customer_id": "1", "status": "completed", "total": "26.00"})
	d.hasura(t, "orders", upd, at(d.day, 14), map[string]any{"id": 12, "customer_id": "5", "status": "new"},
		map[string]any{"id": 12, "customer_id": "5", "status": "paid"})
	d.stripe(t, "payment_intent.succeeded", at(d.day, 15), map[string]any{"id": "pi_1", "amount": 2550, "metadata": map[string]any{"user_id": "1", "order_id": "10"}})
	d.stripe(t, "payment_intent.succeeded", at(d.day, 15), map[string]any{"id": "pi_2", "amount": 1000})
	d.stripe(t, "payment_intent.payment_failed", at(d.day, 16), map[string]any{"id": "pi_3"})
	d.stripe(t, "customer.subscription.created", at(d.day, 16), map[string]any{"id": "sub_1"})
	d.stripe(t, "customer.subscription.deleted", at(d.day, 17), map[string]any{"id": "sub_2"})
	d.github(t, at(d.day, 18))
	d.github(t, at(d.day, 23))
	// Later in the same week; in the weekly report only.
	d.github(t, at(d.day.AddDate(0, 0, 2), 8))
	// A hundred days before: outside the retention when the cleanup runs.
	user(d.old, 9, "8", "h@example.com", "Hal")
	user(d.old, 9, "9", "i@example.com", "Ida")
	d.github(t, at(d.old, 10))
	return d
}

func (d *dataset) add(ev *eventv1.Event) {
	d.seq++
	ev.Id = "evt-" + strconv.Itoa(d.seq)
	d.events = append(d.events, ev)
}

func (d *dataset) hasura(t testing.TB, table string, op eventv1.HasuraOperation, at time.Time, oldRow, newRow map[string]any) {
	ops := map[eventv1.HasuraOperation]string{eventv1.HasuraOperation_HASURA_OPERATION_INSERT: "insert", eventv1.HasuraOperation_HASURA_OPERATION_UPDATE: "update"}
	h := &eventv1.HasuraTableEvent{Op: op, Schema: "public", Table: table, TriggerName: table + "_trigger"}
	if oldRow != nil {
		h.Old = mustStruct(t, oldRow)
	}
	if newRow != nil {
		h.New = mustStruct(t, newRow)
	}
	d.add(&eventv1.Event{Source: "hasura", Type: "hasura.public." + table + "." + ops[op], Time: timestamppb.New(at),
		Payload: &eventv1.Event_HasuraTable{HasuraTable: h}})
}

func (d *dataset) stripe(t testing.TB, typ string, at time.Time, object map[string]any) {
	d.add(&eventv1.Event{Source: "stripe", Type: "stripe." + typ, Time: timestamppb.New(at),
		Payload: &eventv1.Event_Provider{Provider: &eventv1.ProviderWebhook{Provider: "stripe", ProviderEventType: typ,
			Payload: mustValue(t, map[string]any{"type": typ, "data": map[string]any{"object": object}})}}})
}

func (d *dataset) github(t testing.TB, at time.Time) {
	d.add(&eventv1.Event{Source: "github", Type: "github.push", Time: timestamppb.New(at),
		Payload: &eventv1.Event_Provider{Provider: &eventv1.ProviderWebhook{Provider: "github", ProviderEventType: "push",
			Payload: mustValue(t, map[string]any{"repository": map[string]any{"full_name": "o/r"}})}}})
}

func (d *dataset) cleanup() *eventv1.Event {
	return &eventv1.Event{Id: "cleanup-1", Source: "cron", Type: "cron.cleanup", Time: timestamppb.New(d.cleanupAt),
		Payload: &eventv1.Event_Scheduled{Scheduled: &eventv1.ScheduledEvent{Kind: eventv1.ScheduledKind_SCHEDULED_KIND_CRON,
			Name: "cleanup", ScheduledTime: timestamppb.New(d.cleanupAt), Scheduler: "hookmesh"}}}
}

func wantDaily(d *dataset) *analyticsv1.Report {
	return &analyticsv1.Report{
		Kind: analyticsv1.ReportKind_REPORT_KIND_DAILY, PeriodStart: timestamppb.New(d.day), PeriodEnd: timestamppb.New(d.day.AddDate(0, 0, 1)),
		TimeZone: "UTC",
		EventsByType: []*analyticsv1.TypeCount{
			{Type: "hasura.public.orders.update", Count: 3}, {Type: "hasura.public.users.insert", Count: 3},
			{Type: "hasura.public.users.update", Count: 3}, {Type: "github.push", Count: 2},
			{Type: "stripe.payment_intent.succeeded", Count: 2}, {Type: "hasura.public.orders.insert", Count: 1},
			{Type: "stripe.customer.subscription.created", Count: 1}, {Type: "stripe.customer.subscription.deleted", Count: 1},
			{Type: "stripe.payment_intent.payment_failed", Count: 1},
		},
		TotalEvents: 17, NewUsers: 3, OrdersCompleted: 2, Revenue: "35.50", ItemsSold: 4,
		PaymentsSucceeded: 2, PaymentsFailed: 1, SubscriptionsCreated: 1, SubscriptionsCancelled: 1,
		DistinctActiveUsers: 5, EmailChanges: 1, NameChanges: 1,
	}
}

func wantWeekly(d *dataset) *analyticsv1.Report {
	r := wantDaily(d)
	r.Kind = analyticsv1.ReportKind_REPORT_KIND_WEEKLY
	r.PeriodStart, r.PeriodEnd = timestamppb.New(d.monday), timestamppb.New(d.monday.AddDate(0, 0, 7))
	r.TotalEvents = 18
	r.EventsByType[3].Count = 3 // github.push
	r.EventsByType[0], r.EventsByType[1], r.EventsByType[2], r.EventsByType[3] = r.EventsByType[3], r.EventsByType[0], r.EventsByType[1], r.EventsByType[2]
	return r
}

func (h *harness) report(t *testing.T, kind string, day time.Time) *analyticsv1.Report {
	t.Helper()
	resp, err := h.analytics.GetReport(t.Context(), &analyticsv1.GetReportRequest{Kind: kind, Date: day.Format(time.DateOnly)})
	if err != nil {
		t.Fatalf("GetReport(%s, %s): %v", kind, day.Format(time.DateOnly), err)
	}
	return resp.GetReport()
}

func checkReport(t *testing.T, when string, got, want *analyticsv1.Report) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Errorf("%s: report\n got %v\nwant %v", when, got, want)
	}
}

// TestReportsAcrossRetention delivers a known data set, checks the daily and
// weekly reports, runs the retention cleanup and checks that the reports and
// distinct users are unchanged while the expired raw events are gone.
func TestReportsAcrossRetention(t *testing.T) {
	forEachDialect(t, func(t *testing.T, cfg Config) {
		h := start(t, cfg)
		d := newDataset(t)
		for _, ev := range d.events {
			if code := h.deliver(t, ev); code != codes.OK {
				t.Fatalf("deliver %s %s: %v", ev.GetId(), ev.GetType(), code)
			}
		}
		// A redelivery changes nothing.
		if code := h.deliver(t, d.events[0]); code != codes.AlreadyExists {
			t.Fatalf("redelivery: %v, want ALREADY_EXISTS", code)
		}
		checkReport(t, "daily", h.report(t, "daily", d.day), wantDaily(d))
		checkReport(t, "weekly", h.report(t, "weekly", d.day.AddDate(0, 0, 4)), wantWeekly(d))
		oldBefore := h.report(t, "daily", d.old)
		if oldBefore.GetNewUsers() != 2 || oldBefore.GetTotalEvents() != 3 || oldBefore.GetDistinctActiveUsers() != 2 {
			t.Fatalf("old day's report = %v", oldBefore)
		}

		if code := h.deliver(t, d.cleanup()); code != codes.OK {
			t.Fatalf("cleanup: %v", code)
		}
		ctx := t.Context()
		for _, ev := range d.events {
			kept, err := h.svc.store.EventStored(ctx, ev.GetSource(), ev.GetId())
			if err != nil {
				t.Fatal(err)
			}
			if wantKept := ev.GetTime().AsTime().After(d.day); kept != wantKept {
				t.Errorf("raw event %s at %s kept = %v, want %v", ev.GetId(), ev.GetTime().AsTime(), kept, wantKept)
			}
		}
		checkReport(t, "daily after cleanup", h.report(t, "daily", d.day), wantDaily(d))
		checkReport(t, "weekly after cleanup", h.report(t, "weekly", d.day), wantWeekly(d))
		checkReport(t, "old day after cleanup", h.report(t, "daily", d.old), oldBefore)
		users, err := h.analytics.GetDistinctUsers(ctx, &analyticsv1.GetDistinctUsersRequest{
			Since: timestamppb.New(d.old), Until: timestamppb.New(d.old.AddDate(0, 0, 1)),
		})
		if err != nil || users.GetDistinctUsers() != 2 {
			t.Errorf("distinct users of the expired day = %v, %v; want 2", users, err)
		}
		// An expired event redelivered (a replay) is not counted again.
		if code := h.deliver(t, d.events[len(d.events)-1]); code != codes.AlreadyExists {
			t.Errorf("replay of an expired event: %v, want ALREADY_EXISTS", code)
		}
		checkReport(t, "old day after replay", h.report(t, "daily", d.old), oldBefore)
	})
}

// TestServeREST runs the service process's serve on loopback listeners and reads
// the figures through the REST routes of proto/http.yaml.
func TestServeREST(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hlis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	tel, err := telemetry.Setup(ctx, telemetry.Config{Component: "analytics", SkipRuntimeMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{DataDir: t.TempDir()}
	cfg.setDefaults()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, tel, slog.New(slog.DiscardHandler), lis, hlis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	waitHealthy(t, lis.Addr().String())

	d := newDataset(t)
	base := "http://" + hlis.Addr().String()
	h := &harness{}
	h.consumer, h.analytics = clients(t, lis.Addr().String())
	for _, ev := range d.events {
		if code := h.deliver(t, ev); code != codes.OK {
			t.Fatalf("deliver %s: %v", ev.GetId(), code)
		}
	}

	var rep struct {
		Report struct {
			Kind        string `json:"kind"`
			NewUsers    string `json:"new_users"`
			Revenue     string `json:"revenue"`
			PeriodStart string `json:"period_start"`
		} `json:"report"`
	}
	getJSON(t, base+"/v1/analytics/reports/daily?date="+d.day.Format(time.DateOnly), http.StatusOK, &rep)
	if rep.Report.Kind != "REPORT_KIND_DAILY" || rep.Report.NewUsers != "3" || rep.Report.Revenue != "35.50" ||
		rep.Report.PeriodStart != d.day.Format(time.RFC3339) {
		t.Errorf("daily report over REST = %+v", rep.Report)
	}
	getJSON(t, base+"/v1/analytics/reports/weekly?date="+d.day.Format(time.DateOnly)+"&time_zone=UTC", http.StatusOK, &rep)
	if rep.Report.Kind != "REPORT_KIND_WEEKLY" || rep.Report.PeriodStart != d.monday.Format(time.RFC3339) {
		t.Errorf("weekly report over REST = %+v", rep.Report)
	}

	var counts struct {
		Buckets []struct {
			Type  string `json:"type"`
			Count string `json:"count"`
			Start string `json:"start"`
		} `json:"buckets"`
	}
	q := url.Values{"type": {"github.*"}, "granularity": {"GRANULARITY_DAY"},
		"since": {d.monday.Format(time.RFC3339)}, "until": {d.monday.AddDate(0, 0, 7).Format(time.RFC3339)}}
	getJSON(t, base+"/v1/analytics/counts?"+q.Encode(), http.StatusOK, &counts)
	if len(counts.Buckets) != 2 || counts.Buckets[0].Count != "2" || counts.Buckets[0].Start != d.day.Format(time.RFC3339) || counts.Buckets[1].Count != "1" {
		t.Errorf("daily github counts over REST = %+v", counts.Buckets)
	}

	var users struct {
		DistinctUsers string `json:"distinct_users"`
		Days          []struct {
			Date  string `json:"date"`
			Users string `json:"users"`
		} `json:"days"`
	}
	q = url.Values{"since": {d.day.Format(time.RFC3339)}, "until": {d.day.AddDate(0, 0, 2).Format(time.RFC3339)}}
	getJSON(t, base+"/v1/analytics/users?"+q.Encode(), http.StatusOK, &users)
	if users.DistinctUsers != "5" || len(users.Days) != 2 || users.Days[0].Users != "5" || users.Days[1].Users != "0" {
		t.Errorf("users over REST = %+v", users)
	}

	var apiErr struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	getJSON(t, base+"/v1/analytics/reports/monthly", http.StatusBadRequest, &apiErr)
	if apiErr.Error.Code != "invalid_argument" || apiErr.Error.Message == "" {
		t.Errorf("unknown report kind over REST = %+v", apiErr)
	}

	for path, want := range map[string]string{"/healthz": "ok", "/metrics": "hookmesh_analytics_batch_size_count"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s = %d without %q", path, resp.StatusCode, want)
		}
	}
	if err := Health(t.Context(), Config{GRPCAddr: lis.Addr().String()}); err != nil {
		t.Errorf("Health: %v", err)
	}
}

func TestHealthWithoutServer(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	if err := Health(t.Context(), Config{GRPCAddr: addr}); err == nil {
		t.Error("Health succeeded with nothing listening")
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	err := Run(t.Context(), Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "", DataDir: t.TempDir(), BatchSize: -5})
	if err == nil {
		t.Error("Run accepted ANALYTICS_BATCH_SIZE=-5")
	}
	err = Run(t.Context(), Config{GRPCAddr: "256.0.0.1:99999", DataDir: t.TempDir()})
	if err == nil {
		t.Error("Run accepted an address it cannot listen on")
	}
}

func getJSON(t *testing.T, url string, wantStatus int, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s = %d %s, want %d", url, resp.StatusCode, body, wantStatus)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
}
