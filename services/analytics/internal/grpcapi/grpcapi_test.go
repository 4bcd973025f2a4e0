package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	analyticsv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/analytics/v1"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/grpcserver/grpcservertest"
	"github.com/hookmesh/hookmesh/platform/sqlstore/sqlstoretest"
	"github.com/hookmesh/hookmesh/services/analytics/internal/analytics"
	"github.com/hookmesh/hookmesh/services/analytics/internal/store"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// fakeRecorder stands in for the group committer (the seam under the consumer).
type fakeRecorder struct {
	mu   sync.Mutex
	recs []analytics.Record
	err  error
}

func (f *fakeRecorder) Submit(_ context.Context, rec analytics.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.recs = append(f.recs, rec)
	return nil
}

func newConsumerClient(t *testing.T, rec Recorder, tp *sdktrace.TracerProvider) consumerv1.EventConsumerServiceClient {
	t.Helper()
	tracker, err := analytics.NewTracker(analytics.TrackerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewConsumer(tracker, rec, tp.Tracer("test"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	conn := grpcservertest.MustStart(t, func(g *grpc.Server) { consumerv1.RegisterEventConsumerServiceServer(g, c) })
	return consumerv1.NewEventConsumerServiceClient(conn)
}

func TestDeliverCodes(t *testing.T) {
	valid := &eventv1.Event{Id: "1", Source: "github", Type: "github.push"}
	tests := []struct {
		name string
		ev   *eventv1.Event
		err  error
		code codes.Code
	}{
		{"stored", valid, nil, codes.OK},
		{"seen before", valid, analytics.ErrDuplicate, codes.AlreadyExists},
		{"refused by the database", valid, fmt.Errorf("%w: check constraint", analytics.ErrInvalid), codes.InvalidArgument},
		{"store down", valid, errors.New("begin transaction: connection refused"), codes.Unavailable},
		{"untrackable event", &eventv1.Event{Id: "1", Source: "hasura", Type: "hasura.public.users.insert"}, nil, codes.InvalidArgument},
		{"no event", nil, nil, codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &fakeRecorder{err: tc.err}
			client := newConsumerClient(t, rec, sdktrace.NewTracerProvider())
			_, err := client.Deliver(t.Context(), &consumerv1.DeliverRequest{Event: tc.ev, Subscription: "analytics", Attempt: 1})
			if got := status.Code(err); got != tc.code {
				t.Errorf("code = %v (%v), want %v", got, err, tc.code)
			}
			if tc.code == codes.InvalidArgument && tc.err == nil && len(rec.recs) != 0 {
				t.Errorf("an untrackable event reached the recorder")
			}
		})
	}
}

func TestDeliverContinuesStoredTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	client := newConsumerClient(t, &fakeRecorder{}, tp)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	ev := &eventv1.Event{Id: "1", Source: "github", Type: "github.push", Traceparent: "00-" + traceID + "-00f067aa0ba902b7-01"}
	if _, err := client.Deliver(t.Context(), &consumerv1.DeliverRequest{Event: ev}); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, s := range exp.GetSpans() {
		if s.Name == "process" { // the delivery's span (no subscription named)
			found = true
			if got := s.SpanContext.TraceID().String(); got != traceID {
				t.Errorf("deliver span in trace %s, want the event's %s", got, traceID)
			}
		}
	}
	if !found {
		t.Fatal("no process span")
	}
}

func TestNewConsumerNeedsDependencies(t *testing.T) {
	if _, err := NewConsumer(nil, nil, nil, nil); err == nil {
		t.Error("NewConsumer accepted nil dependencies")
	}
	if _, err := NewAPI(nil, nil); err == nil {
		t.Error("NewAPI accepted a nil service")
	}
}

func newAPIClient(t *testing.T) analyticsv1.AnalyticsServiceClient {
	t.Helper()
	st, err := store.New(sqlstoretest.SQLite(t, store.Migrations()))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := analytics.NewService(analytics.ServiceConfig{Reader: st})
	if err != nil {
		t.Fatal(err)
	}
	api, err := NewAPI(svc, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn := grpcservertest.MustStart(t, func(g *grpc.Server) { analyticsv1.RegisterAnalyticsServiceServer(g, api) })
	return analyticsv1.NewAnalyticsServiceClient(conn)
}

func TestAPIRejects(t *testing.T) {
	client := newAPIClient(t)
	ctx := t.Context()
	bad := &timestamppb.Timestamp{Seconds: 1, Nanos: -5}
	now := timestamppb.New(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	calls := []struct {
		name string
		call func() error
	}{
		{"counts: bad since", func() error { _, err := client.GetCounts(ctx, &analyticsv1.GetCountsRequest{Since: bad}); return err }},
		{"counts: bad until", func() error { _, err := client.GetCounts(ctx, &analyticsv1.GetCountsRequest{Until: bad}); return err }},
		{"counts: unknown granularity", func() error {
			_, err := client.GetCounts(ctx, &analyticsv1.GetCountsRequest{Granularity: 7})
			return err
		}},
		{"counts: backwards", func() error {
			_, err := client.GetCounts(ctx, &analyticsv1.GetCountsRequest{Since: now, Until: timestamppb.New(now.AsTime().Add(-time.Hour))})
			return err
		}},
		{"users: bad since", func() error {
			_, err := client.GetDistinctUsers(ctx, &analyticsv1.GetDistinctUsersRequest{Since: bad})
			return err
		}},
		{"users: bad until", func() error {
			_, err := client.GetDistinctUsers(ctx, &analyticsv1.GetDistinctUsersRequest{Until: bad})
			return err
		}},
		{"users: bad zone", func() error {
			_, err := client.GetDistinctUsers(ctx, &analyticsv1.GetDistinctUsersRequest{TimeZone: "Nowhere/City"})
			return err
		}},
		{"report: unknown kind", func() error {
			_, err := client.GetReport(ctx, &analyticsv1.GetReportRequest{Kind: "monthly"})
			return err
		}},
		{"report: bad start", func() error {
			_, err := client.GetReport(ctx, &analyticsv1.GetReportRequest{Kind: "daily", PeriodStart: bad})
			return err
		}},
		{"report: bad end", func() error {
			_, err := client.GetReport(ctx, &analyticsv1.GetReportRequest{Kind: "daily", PeriodEnd: bad})
			return err
		}},
		{"report: bad date", func() error {
			_, err := client.GetReport(ctx, &analyticsv1.GetReportRequest{Kind: "daily", Date: "yesterday"})
			return err
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); status.Code(err) != codes.InvalidArgument {
				t.Errorf("code = %v (%v), want INVALID_ARGUMENT", status.Code(err), err)
			}
		})
	}
}

func TestAPIEmptyStore(t *testing.T) {
	client := newAPIClient(t)
	ctx := t.Context()
	counts, err := client.GetCounts(ctx, &analyticsv1.GetCountsRequest{Granularity: analyticsv1.Granularity_GRANULARITY_DAY})
	if err != nil {
		t.Fatal(err)
	}
	if len(counts.GetBuckets()) != 0 || counts.GetGranularity() != analyticsv1.Granularity_GRANULARITY_DAY || !counts.GetSince().AsTime().Before(counts.GetUntil().AsTime()) {
		t.Errorf("counts = %v", counts)
	}
	users, err := client.GetDistinctUsers(ctx, &analyticsv1.GetDistinctUsersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// The default week ends at the next whole hour: seven whole days and today's part,
	// or exactly seven days when that hour is midnight (a run between 23:00 and 24:00 UTC).
	wantDays := 8
	if users.GetUntil().AsTime().UTC().Hour() == 0 {
		wantDays = 7
	}
	if users.GetDistinctUsers() != 0 || len(users.GetDays()) != wantDays {
		t.Errorf("users = %v", users)
	}
	rep, err := client.GetReport(ctx, &analyticsv1.GetReportRequest{Kind: "WEEKLY", TimeZone: "Europe/Berlin"})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.GetReport()
	if r.GetKind() != analyticsv1.ReportKind_REPORT_KIND_WEEKLY || r.GetRevenue() != "0.00" || r.GetTimeZone() != "Europe/Berlin" ||
		(r.GetPeriodEnd().AsTime().Sub(r.GetPeriodStart().AsTime())-7*24*time.Hour).Abs() > time.Hour || // DST weeks: ±1h
		!strings.HasPrefix(r.GetPeriodStart().AsTime().In(mustZone(t, "Europe/Berlin")).Weekday().String(), "Monday") {
		t.Errorf("empty weekly report = %v", r)
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// Issue 17: the database's error text reached REST callers; now they get a
// generic INTERNAL message and the log keeps the cause.
func TestReadAPIHidesInternalErrors(t *testing.T) {
	db := sqlstoretest.SQLite(t, store.Migrations())
	st, err := store.New(db)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := analytics.NewService(analytics.ServiceConfig{Reader: st})
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	api, err := NewAPI(svc, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close() // every query now fails inside database/sql
	_, err = api.GetCounts(t.Context(), &analyticsv1.GetCountsRequest{})
	if s := status.Convert(err); s.Code() != codes.Internal || s.Message() != "internal error" {
		t.Fatalf("GetCounts on a closed store: %v, want INTERNAL \"internal error\"", err)
	}
	if !strings.Contains(logs.String(), "closed") {
		t.Fatalf("log lacks the cause: %s", logs.String())
	}
}
