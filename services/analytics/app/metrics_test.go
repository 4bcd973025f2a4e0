package app

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/grpcserver/grpcservertest"
)

// hookmesh_analytics_events_total counts what became of each tracked event.
func TestEventsTrackedMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	svc, err := New(t.Context(), Config{DataDir: t.TempDir(), FlushInterval: time.Millisecond},
		Deps{Logger: slog.New(slog.DiscardHandler), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	client := consumerv1.NewEventConsumerServiceClient(grpcservertest.MustStart(t, func(g *grpc.Server) { svc.Register(g) }))
	at := timestamppb.New(conformanceTime)
	for _, tc := range []struct {
		ev   *eventv1.Event
		want codes.Code
	}{
		{&eventv1.Event{Id: "m-1", Source: "test", Type: "test.metric", Time: at}, codes.OK},
		{&eventv1.Event{Id: "m-1", Source: "test", Type: "test.metric", Time: at}, codes.AlreadyExists},
		{&eventv1.Event{Id: "m-2", Source: "test", Type: "test.metric", Time: at}, codes.OK},
		// The schema refuses event types over 255 characters.
		{&eventv1.Event{Id: "m-3", Source: "test", Type: "test." + strings.Repeat("x", 300), Time: at}, codes.InvalidArgument},
	} {
		_, err := client.Deliver(t.Context(), &consumerv1.DeliverRequest{Event: tc.ev, Subscription: "analytics", Attempt: 1})
		if status.Code(err) != tc.want {
			t.Fatalf("%s: %v, want %v", tc.ev.GetId(), err, tc.want)
		}
	}
	want := `
# HELP hookmesh_analytics_events_total Events submitted for tracking by result (tracked: stored now, duplicate: stored before, failed: not stored; the answer says whether to retry).
# TYPE hookmesh_analytics_events_total counter
hookmesh_analytics_events_total{result="duplicate"} 1
hookmesh_analytics_events_total{result="failed"} 1
hookmesh_analytics_events_total{result="tracked"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "hookmesh_analytics_events_total"); err != nil {
		t.Error(err)
	}
}
