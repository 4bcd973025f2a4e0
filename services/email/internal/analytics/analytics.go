// Package analytics is the adapter from email.ReportSource to the analytics
// service's gRPC API (hookmesh.analytics.v1.AnalyticsService/GetReport).
package analytics

import (
	"context"
	"fmt"
	"strconv"
	"time"

	analyticsv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/analytics/v1"
	"github.com/hookmesh/hookmesh/services/email/internal/email"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Source fetches report figures from the analytics service.
type Source struct {
	client analyticsv1.AnalyticsServiceClient
}

// New wraps an AnalyticsService client.
func New(client analyticsv1.AnalyticsServiceClient) *Source { return &Source{client: client} }

// Report implements email.ReportSource.
func (s *Source) Report(ctx context.Context, q email.ReportQuery) (email.Report, error) {
	resp, err := s.client.GetReport(ctx, &analyticsv1.GetReportRequest{
		Kind:        string(q.Period),
		TimeZone:    q.Location.String(),
		PeriodStart: timestamppb.New(q.Start),
		PeriodEnd:   timestamppb.New(q.End),
	})
	if err != nil {
		return email.Report{}, classify(err)
	}
	r := resp.GetReport()
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	figs := []email.Figure{
		{Label: "New users", Value: n(r.GetNewUsers())},
		{Label: "Active users", Value: n(r.GetDistinctActiveUsers())},
		{Label: "Orders completed", Value: n(r.GetOrdersCompleted())},
		{Label: "Items sold", Value: n(r.GetItemsSold())},
		{Label: "Revenue", Value: orZero(r.GetRevenue())},
		{Label: "Payments succeeded", Value: n(r.GetPaymentsSucceeded())},
		{Label: "Payments failed", Value: n(r.GetPaymentsFailed())},
		{Label: "Subscriptions created", Value: n(r.GetSubscriptionsCreated())},
		{Label: "Subscriptions cancelled", Value: n(r.GetSubscriptionsCancelled())},
		{Label: "Email address changes", Value: n(r.GetEmailChanges())},
		{Label: "Name changes", Value: n(r.GetNameChanges())},
		{Label: "Events received", Value: n(r.GetTotalEvents())},
	}
	for _, tc := range r.GetEventsByType() {
		figs = append(figs, email.Figure{Label: "  " + tc.GetType(), Value: n(tc.GetCount())})
	}
	return email.Report{Figures: figs}, nil
}

func orZero(s string) string {
	if s == "" {
		return "0.00"
	}
	return s
}

// classify maps the analytics service's status onto the domain errors, keeping
// its RetryInfo.
func classify(err error) error {
	st := status.Convert(err)
	switch st.Code() {
	case codes.InvalidArgument, codes.OutOfRange:
		return fmt.Errorf("analytics GetReport: %w: %s", email.ErrInvalid, st.Message())
	case codes.Unimplemented, codes.NotFound, codes.PermissionDenied, codes.FailedPrecondition:
		return fmt.Errorf("analytics GetReport: %w: %s: %s", email.ErrNotConfigured, st.Code(), st.Message())
	}
	after := 5 * time.Second
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay().AsDuration() > 0 {
			after = ri.GetRetryDelay().AsDuration()
		}
	}
	return email.Retry(after, fmt.Errorf("analytics GetReport: %w: %s: %s", email.ErrUnavailable, st.Code(), st.Message()))
}
