package analytics_test

import (
	"context"
	"errors"
	"testing"
	"time"

	analyticsv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/analytics/v1"
	"github.com/hookmesh/hookmesh/platform/grpcserver/grpcservertest"
	"github.com/hookmesh/hookmesh/services/email/internal/analytics"
	"github.com/hookmesh/hookmesh/services/email/internal/email"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// server is an AnalyticsService at the seam: it answers canned reports or errors
// and records the request, over real gRPC.
type server struct {
	analyticsv1.UnimplementedAnalyticsServiceServer
	err  error
	last *analyticsv1.GetReportRequest
}

func (s *server) GetReport(_ context.Context, req *analyticsv1.GetReportRequest) (*analyticsv1.GetReportResponse, error) {
	s.last = req
	if s.err != nil {
		return nil, s.err
	}
	return &analyticsv1.GetReportResponse{Report: &analyticsv1.Report{
		Kind: analyticsv1.ReportKind_REPORT_KIND_DAILY, NewUsers: 12, OrdersCompleted: 3, Revenue: "129.90", TotalEvents: 40,
		EventsByType: []*analyticsv1.TypeCount{{Type: "hasura.public.users.insert", Count: 12}},
	}}, nil
}

func start(t *testing.T, srv *server) *analytics.Source {
	conn := grpcservertest.MustStart(t, func(g *grpc.Server) { analyticsv1.RegisterAnalyticsServiceServer(g, srv) })
	return analytics.New(analyticsv1.NewAnalyticsServiceClient(conn))
}

func TestReport(t *testing.T) {
	srv := &server{}
	src := start(t, srv)
	loc, _ := time.LoadLocation("Europe/Berlin")
	q := email.ReportQuery{Period: email.PeriodDaily, Start: time.Date(2024, 3, 4, 0, 0, 0, 0, loc), End: time.Date(2024, 3, 5, 0, 0, 0, 0, loc), Location: loc}
	rep, err := src.Report(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	if srv.last.GetKind() != "daily" || srv.last.GetTimeZone() != "Europe/Berlin" ||
		!srv.last.GetPeriodStart().AsTime().Equal(q.Start) || !srv.last.GetPeriodEnd().AsTime().Equal(q.End) {
		t.Errorf("request %v", srv.last)
	}
	want := map[string]string{"New users": "12", "Orders completed": "3", "Revenue": "129.90", "Events received": "40", "  hasura.public.users.insert": "12"}
	got := map[string]string{}
	for _, f := range rep.Figures {
		got[f.Label] = f.Value
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestReportErrors(t *testing.T) {
	withRetry, _ := status.New(codes.Unavailable, "warming up").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(9 * time.Second)})
	for _, tc := range []struct {
		name      string
		err       error
		want      error
		wantAfter time.Duration
	}{
		{"unavailable with retry info", withRetry.Err(), email.ErrUnavailable, 9 * time.Second},
		{"internal", status.Error(codes.Internal, "db"), email.ErrUnavailable, 5 * time.Second},
		{"invalid argument", status.Error(codes.InvalidArgument, "bad zone"), email.ErrInvalid, 0},
		{"unimplemented", status.Error(codes.Unimplemented, "old analytics"), email.ErrNotConfigured, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := start(t, &server{err: tc.err})
			_, err := src.Report(t.Context(), email.ReportQuery{Period: email.PeriodWeekly, Location: time.UTC, Start: time.Unix(0, 0), End: time.Unix(3600, 0)})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Report = %v, want %v", err, tc.want)
			}
			if tc.wantAfter != 0 && email.RetryAfter(err, 0) != tc.wantAfter {
				t.Errorf("retry after %v, want %v", email.RetryAfter(err, 0), tc.wantAfter)
			}
		})
	}
}
