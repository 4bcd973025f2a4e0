package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hookmesh/hookmesh/platform/groupcommit"

	analyticsv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/analytics/v1"
	"github.com/hookmesh/hookmesh/services/analytics/internal/analytics"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// API implements hookmesh.analytics.v1.AnalyticsService over analytics.Service.
type API struct {
	analyticsv1.UnimplementedAnalyticsServiceServer
	svc    *analytics.Service
	logger *slog.Logger
}

// NewAPI returns the read API server; logger (nil: discard) gets the causes
// of INTERNAL and UNAVAILABLE answers.
func NewAPI(svc *analytics.Service, logger *slog.Logger) (*API, error) {
	if svc == nil {
		return nil, errors.New("grpcapi: API needs an analytics service")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &API{svc: svc, logger: logger}, nil
}

// fail is Status for the read API's callers (REST users, through
// grpc-gateway): a failure that is not theirs is logged with the call's
// trace id and answered with a generic message, as orders does: UNAVAILABLE
// while the store cannot answer now, INTERNAL for anything else (the
// database's own error text stays in the log).
func (a *API) fail(ctx context.Context, err error) error {
	st := status.Convert(Status(err))
	switch st.Code() {
	case codes.Unavailable, codes.Internal, codes.Unknown:
	default:
		return st.Err()
	}
	a.logger.ErrorContext(ctx, "read API call failed", "error", err.Error())
	if errors.Is(err, analytics.ErrUnavailable) || errors.Is(err, groupcommit.ErrClosed) {
		return status.Error(codes.Unavailable, "analytics cannot answer now; retry")
	}
	return status.Error(codes.Internal, "internal error")
}

// timeOf reads an optional timestamp: unset is the zero time (the default).
func timeOf(field string, ts *timestamppb.Timestamp) (time.Time, error) {
	if ts == nil {
		return time.Time{}, nil
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, fmt.Errorf("%w: %s: %w", analytics.ErrInvalid, field, err)
	}
	return ts.AsTime(), nil
}

// GetCounts implements AnalyticsService.
func (a *API) GetCounts(ctx context.Context, req *analyticsv1.GetCountsRequest) (*analyticsv1.GetCountsResponse, error) {
	since, err := timeOf("since", req.GetSince())
	if err != nil {
		return nil, a.fail(ctx, err)
	}
	until, err := timeOf("until", req.GetUntil())
	if err != nil {
		return nil, a.fail(ctx, err)
	}
	var g analytics.Granularity
	switch req.GetGranularity() {
	case analyticsv1.Granularity_GRANULARITY_UNSPECIFIED, analyticsv1.Granularity_GRANULARITY_HOUR:
		g = analytics.Hourly
	case analyticsv1.Granularity_GRANULARITY_DAY:
		g = analytics.Daily
	default:
		return nil, a.fail(ctx, fmt.Errorf("%w: granularity %d", analytics.ErrInvalid, req.GetGranularity()))
	}
	res, err := a.svc.Counts(ctx, analytics.CountsQuery{
		Type: req.GetType(), Since: since, Until: until, Granularity: g, TimeZone: req.GetTimeZone(),
	})
	if err != nil {
		return nil, a.fail(ctx, err)
	}
	out := &analyticsv1.GetCountsResponse{
		Since: timestamppb.New(res.Since), Until: timestamppb.New(res.Until), Granularity: analyticsv1.Granularity_GRANULARITY_HOUR,
	}
	if res.Granularity == analytics.Daily {
		out.Granularity = analyticsv1.Granularity_GRANULARITY_DAY
	}
	for _, b := range res.Buckets {
		out.Buckets = append(out.Buckets, &analyticsv1.CountBucket{
			Type: b.Type, Tracked: b.Tracked, Start: timestamppb.New(b.Start), Count: b.Count,
		})
	}
	return out, nil
}

// GetDistinctUsers implements AnalyticsService.
func (a *API) GetDistinctUsers(ctx context.Context, req *analyticsv1.GetDistinctUsersRequest) (*analyticsv1.GetDistinctUsersResponse, error) {
	since, err := timeOf("since", req.GetSince())
	if err != nil {
		return nil, a.fail(ctx, err)
	}
	until, err := timeOf("until", req.GetUntil())
	if err != nil {
		return nil, a.fail(ctx, err)
	}
	res, err := a.svc.DistinctUsers(ctx, analytics.UsersQuery{Since: since, Until: until, TimeZone: req.GetTimeZone()})
	if err != nil {
		return nil, a.fail(ctx, err)
	}
	out := &analyticsv1.GetDistinctUsersResponse{
		DistinctUsers: res.Distinct, Since: timestamppb.New(res.Since), Until: timestamppb.New(res.Until),
	}
	for _, d := range res.Days {
		out.Days = append(out.Days, &analyticsv1.DailyUsers{Date: d.Date, Start: timestamppb.New(d.Start), Users: d.Users})
	}
	return out, nil
}

// GetReport implements AnalyticsService.
func (a *API) GetReport(ctx context.Context, req *analyticsv1.GetReportRequest) (*analyticsv1.GetReportResponse, error) {
	kind, err := analytics.ParseReportKind(req.GetKind())
	if err != nil {
		return nil, a.fail(ctx, err)
	}
	start, err := timeOf("period_start", req.GetPeriodStart())
	if err != nil {
		return nil, a.fail(ctx, err)
	}
	end, err := timeOf("period_end", req.GetPeriodEnd())
	if err != nil {
		return nil, a.fail(ctx, err)
	}
	rep, err := a.svc.Report(ctx, analytics.ReportQuery{
		Kind: kind, Date: req.GetDate(), TimeZone: req.GetTimeZone(), PeriodStart: start, PeriodEnd: end,
	})
	if err != nil {
		return nil, a.fail(ctx, err)
	}
	out := &analyticsv1.Report{
		Kind:                   analyticsv1.ReportKind_REPORT_KIND_DAILY,
		PeriodStart:            timestamppb.New(rep.PeriodStart),
		PeriodEnd:              timestamppb.New(rep.PeriodEnd),
		TimeZone:               rep.TimeZone,
		TotalEvents:            rep.TotalEvents,
		NewUsers:               rep.NewUsers,
		OrdersCompleted:        rep.OrdersCompleted,
		Revenue:                analytics.FormatCents(rep.RevenueCents),
		ItemsSold:              rep.ItemsSold,
		PaymentsSucceeded:      rep.PaymentsSucceeded,
		PaymentsFailed:         rep.PaymentsFailed,
		SubscriptionsCreated:   rep.SubscriptionsCreated,
		SubscriptionsCancelled: rep.SubscriptionsCancelled,
		DistinctActiveUsers:    rep.DistinctActiveUsers,
		EmailChanges:           rep.EmailChanges,
		NameChanges:            rep.NameChanges,
	}
	if rep.Kind == analytics.WeeklyReport {
		out.Kind = analyticsv1.ReportKind_REPORT_KIND_WEEKLY
	}
	for _, tc := range rep.EventsByType {
		out.EventsByType = append(out.EventsByType, &analyticsv1.TypeCount{Type: tc.Type, Count: tc.Count})
	}
	return &analyticsv1.GetReportResponse{Report: out}, nil
}
