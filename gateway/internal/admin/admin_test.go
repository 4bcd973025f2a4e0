package admin

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hookmesh/hookmesh/gateway/internal/dispatch"
	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/grpcserver/grpcservertest"
)

func openLog(t *testing.T) *eventlog.Log {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	l, err := eventlog.Open(ctx, eventlog.Config{DataDir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	if err := l.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return l
}

func appendEvents(t *testing.T, l *eventlog.Log, evs ...*eventv1.Event) {
	t.Helper()
	for _, ev := range evs {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		_, err := l.Append(ctx, ev)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
}

func ev(source, id, typ string) *eventv1.Event {
	return &eventv1.Event{Id: id, Source: source, Type: typ, ReceivedTime: timestamppb.Now(), Datacontenttype: "application/json",
		OriginalBody: []byte(`{}`)}
}

func client(t *testing.T, cfg Config) adminv1.AdminServiceClient {
	t.Helper()
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn := grpcservertest.MustStart(t, func(s *grpc.Server) { adminv1.RegisterAdminServiceServer(s, svc) })
	return adminv1.NewAdminServiceClient(conn)
}

func TestListAndGetEvents(t *testing.T) {
	l := openLog(t)
	for i := range 5 {
		appendEvents(t, l, ev("hasura", fmt.Sprintf("h-%d", i), "hasura.public.users.insert"))
	}
	appendEvents(t, l, ev("github", "g-1", "github.push"), ev("github", "g-2", "github.pull_request.opened"))
	c := client(t, Config{Events: l})
	ctx := t.Context()

	t.Run("pages cover everything newest first", func(t *testing.T) {
		var ids []string
		token := ""
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("pagination does not end")
			}
			resp, err := c.ListEvents(ctx, &adminv1.ListEventsRequest{PageSize: 3, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.GetEvents()) > 3 {
				t.Fatalf("page of %d", len(resp.GetEvents()))
			}
			for _, e := range resp.GetEvents() {
				ids = append(ids, e.GetId())
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		want := []string{"g-2", "g-1", "h-4", "h-3", "h-2", "h-1", "h-0"}
		if fmt.Sprint(ids) != fmt.Sprint(want) {
			t.Fatalf("ids %v, want %v", ids, want)
		}
	})
	filters := []struct {
		name string
		req  *adminv1.ListEventsRequest
		want int
	}{
		{"source", &adminv1.ListEventsRequest{Source: "github"}, 2},
		{"type glob", &adminv1.ListEventsRequest{Type: "github.pull_request.*"}, 1},
		{"source and type", &adminv1.ListEventsRequest{Source: "hasura", Type: "hasura.public.*"}, 5},
		{"since the future", &adminv1.ListEventsRequest{Since: timestamppb.New(time.Now().Add(time.Hour))}, 0},
		{"until the past", &adminv1.ListEventsRequest{Until: timestamppb.New(time.Now().Add(-time.Hour))}, 0},
		{"window around now", &adminv1.ListEventsRequest{Since: timestamppb.New(time.Now().Add(-time.Hour)), Until: timestamppb.New(time.Now().Add(time.Hour))}, 7},
		{"page size over the cap", &adminv1.ListEventsRequest{PageSize: 5000}, 7},
	}
	for _, tc := range filters {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.ListEvents(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.GetEvents()) != tc.want {
				t.Fatalf("%d events, want %d", len(resp.GetEvents()), tc.want)
			}
		})
	}
	invalid := []struct {
		name string
		req  *adminv1.ListEventsRequest
	}{
		{"negative page size", &adminv1.ListEventsRequest{PageSize: -1}},
		{"since after until", &adminv1.ListEventsRequest{Since: timestamppb.New(time.Now()), Until: timestamppb.New(time.Now().Add(-time.Minute))}},
		{"bad token", &adminv1.ListEventsRequest{PageToken: "%%%not-a-cursor"}},
		{"bad source", &adminv1.ListEventsRequest{Source: "a/b"}},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.ListEvents(ctx, tc.req); status.Code(err) != codes.InvalidArgument {
				t.Fatalf("got %v, want InvalidArgument", err)
			}
		})
	}

	got, err := c.GetEvent(ctx, &adminv1.GetEventRequest{Id: "g-1"})
	if err != nil || got.GetEvent().GetType() != "github.push" || got.GetDeliveries() != nil {
		t.Fatalf("GetEvent by id: %v %v", got, err)
	}
	got, err = c.GetEvent(ctx, &adminv1.GetEventRequest{Id: "h-2", Source: "hasura"})
	if err != nil || got.GetEvent().GetId() != "h-2" {
		t.Fatalf("GetEvent by source and id: %v %v", got, err)
	}
	for name, req := range map[string]*adminv1.GetEventRequest{
		"unknown id":       {Id: "nope"},
		"wrong source":     {Id: "g-1", Source: "hasura"},
		"unknown source":   {Id: "g-1", Source: "stripe"},
		"another's source": {Id: "h-1", Source: "github"},
	} {
		if _, err := c.GetEvent(ctx, req); status.Code(err) != codes.NotFound {
			t.Errorf("%s: got %v, want NotFound", name, err)
		}
	}
	if _, err := c.GetEvent(ctx, &adminv1.GetEventRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("empty id: %v", err)
	}
}

func TestUnavailableLog(t *testing.T) {
	l := openLog(t)
	c := client(t, Config{Events: l})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListEvents(t.Context(), &adminv1.ListEventsRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("list on a closed log: %v", err)
	}
}

func TestUnwiredSeamsAreUnimplemented(t *testing.T) {
	l := openLog(t)
	c := client(t, Config{Events: l})
	ctx := t.Context()
	calls := map[string]func() error{
		"ReplayEvent":     func() error { _, err := c.ReplayEvent(ctx, &adminv1.ReplayEventRequest{Id: "x"}); return err },
		"ListDeadLetters": func() error { _, err := c.ListDeadLetters(ctx, &adminv1.ListDeadLettersRequest{}); return err },
		"ResolveDeadLetter": func() error {
			_, err := c.ResolveDeadLetter(ctx, &adminv1.ResolveDeadLetterRequest{Id: "x"})
			return err
		},
		"PurgeDeadLetters":  func() error { _, err := c.PurgeDeadLetters(ctx, &adminv1.PurgeDeadLettersRequest{}); return err },
		"CreateReplay":      func() error { _, err := c.CreateReplay(ctx, &adminv1.CreateReplayRequest{}); return err },
		"GetReplay":         func() error { _, err := c.GetReplay(ctx, &adminv1.GetReplayRequest{Id: "x"}); return err },
		"ListSubscriptions": func() error { _, err := c.ListSubscriptions(ctx, &adminv1.ListSubscriptionsRequest{}); return err },
		"PauseSubscription": func() error {
			_, err := c.PauseSubscription(ctx, &adminv1.PauseSubscriptionRequest{Name: "x"})
			return err
		},
		"ResumeSubscription": func() error {
			_, err := c.ResumeSubscription(ctx, &adminv1.ResumeSubscriptionRequest{Name: "x"})
			return err
		},
		"CreateScheduledEvent": func() error {
			_, err := c.CreateScheduledEvent(ctx, &adminv1.CreateScheduledEventRequest{})
			return err
		},
		"ListScheduledEvents": func() error { _, err := c.ListScheduledEvents(ctx, &adminv1.ListScheduledEventsRequest{}); return err },
		"DeleteScheduledEvent": func() error {
			_, err := c.DeleteScheduledEvent(ctx, &adminv1.DeleteScheduledEventRequest{Id: "x"})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			if status.Code(err) != codes.Unimplemented || status.Convert(err).Message() == "" {
				t.Fatalf("got %v, want Unimplemented with a reason", err)
			}
		})
	}
}

// seams records what the admin service hands to the dispatcher and scheduler.
type seams struct {
	got []string
}

func (s *seams) Deliveries(_ context.Context, ev *eventv1.Event) ([]*adminv1.Delivery, error) {
	s.got = append(s.got, "deliveries:"+ev.GetId())
	return []*adminv1.Delivery{{Subscription: "email", State: adminv1.DeliveryState_DELIVERY_STATE_DELIVERED}}, nil
}

func (s *seams) ReplayEvent(_ context.Context, _, id string, _ []string) ([]string, error) {
	s.got = append(s.got, "replay:"+id)
	return []string{"email"}, nil
}

func (s *seams) ListDeadLetters(context.Context, dispatch.DeadLetterQuery) ([]*adminv1.DeadLetter, string, error) {
	return nil, "", &dispatch.Error{Kind: dispatch.ErrConflict, Msg: "from the seam"}
}

func (s *seams) ResolveDeadLetter(context.Context, string) (*adminv1.DeadLetter, error) {
	return &adminv1.DeadLetter{}, nil
}

func (s *seams) PurgeDeadLetters(context.Context, dispatch.PurgeQuery) (int64, error) {
	return 3, nil
}

func (s *seams) CreateScheduledEvent(_ context.Context, req *adminv1.CreateScheduledEventRequest) (*adminv1.CreateScheduledEventResponse, error) {
	return &adminv1.CreateScheduledEventResponse{ScheduledEvent: &adminv1.ScheduledEvent{Name: req.GetName()}}, nil
}

func (s *seams) ListScheduledEvents(context.Context, *adminv1.ListScheduledEventsRequest) (*adminv1.ListScheduledEventsResponse, error) {
	return &adminv1.ListScheduledEventsResponse{}, nil
}

func (s *seams) DeleteScheduledEvent(context.Context, *adminv1.DeleteScheduledEventRequest) (*adminv1.DeleteScheduledEventResponse, error) {
	return &adminv1.DeleteScheduledEventResponse{}, nil
}

func TestSeamsAreDelegated(t *testing.T) {
	l := openLog(t)
	appendEvents(t, l, ev("hasura", "h-1", "hasura.public.users.insert"))
	s := &seams{}
	c := client(t, Config{Events: l, Deliveries: s, DeadLetters: s, Schedules: s})
	ctx := t.Context()
	got, err := c.GetEvent(ctx, &adminv1.GetEventRequest{Id: "h-1"})
	if err != nil || len(got.GetDeliveries()) != 1 || got.GetDeliveries()[0].GetSubscription() != "email" {
		t.Fatalf("GetEvent with deliveries: %v %v", got, err)
	}
	if r, err := c.ReplayEvent(ctx, &adminv1.ReplayEventRequest{Id: "h-1"}); err != nil || len(r.GetSubscriptions()) != 1 {
		t.Fatalf("ReplayEvent: %v %v", r, err)
	}
	if _, err := c.ListDeadLetters(ctx, &adminv1.ListDeadLettersRequest{}); status.Code(err) != codes.FailedPrecondition || status.Convert(err).Message() != "from the seam" {
		t.Fatalf("seam error not mapped: %v", err)
	}
	if r, err := c.PurgeDeadLetters(ctx, &adminv1.PurgeDeadLettersRequest{}); err != nil || r.GetPurged() != 3 {
		t.Fatalf("PurgeDeadLetters: %v %v", r, err)
	}
	if r, err := c.CreateScheduledEvent(ctx, &adminv1.CreateScheduledEventRequest{Name: "remind"}); err != nil || r.GetScheduledEvent().GetName() != "remind" {
		t.Fatalf("CreateScheduledEvent: %v %v", r, err)
	}
	// Replays and subscriptions stay unwired here.
	if _, err := c.GetReplay(ctx, &adminv1.GetReplayRequest{Id: "x"}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("GetReplay: %v", err)
	}
	if fmt.Sprint(s.got) != "[deliveries:h-1 replay:h-1]" {
		t.Fatalf("seam calls %v", s.got)
	}
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without Events accepted")
	}
}

// TestDispatchErrorCodes: each of the dispatcher's error kinds is one gRPC code,
// its message kept, wrapped or not; an error of no kind is INTERNAL.
func TestDispatchErrorCodes(t *testing.T) {
	tests := []struct {
		kind error
		want codes.Code
	}{
		{dispatch.ErrInvalid, codes.InvalidArgument},
		{dispatch.ErrNotFound, codes.NotFound},
		{dispatch.ErrConflict, codes.FailedPrecondition},
		{dispatch.ErrUnavailable, codes.Unavailable},
		{dispatch.ErrCorrupt, codes.DataLoss},
		{nil, codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.want.String(), func(t *testing.T) {
			var err error = &dispatch.Error{Kind: tt.kind, Msg: "what happened"}
			for _, e := range []error{err, fmt.Errorf("ctx: %w", err)} {
				st := status.Convert(dispatchStatus(e))
				if st.Code() != tt.want || !strings.HasSuffix(st.Message(), "what happened") {
					t.Errorf("%v: got %v %q", e, st.Code(), st.Message())
				}
			}
		})
	}
}

// queries records the dead-letter queries the service builds from requests.
type queries struct {
	list  dispatch.DeadLetterQuery
	purge dispatch.PurgeQuery
}

func (q *queries) ListDeadLetters(_ context.Context, dq dispatch.DeadLetterQuery) ([]*adminv1.DeadLetter, string, error) {
	q.list = dq
	return []*adminv1.DeadLetter{{Id: "d1"}}, "next", nil
}

func (q *queries) ResolveDeadLetter(_ context.Context, id string) (*adminv1.DeadLetter, error) {
	return &adminv1.DeadLetter{Id: id}, nil
}

func (q *queries) PurgeDeadLetters(_ context.Context, pq dispatch.PurgeQuery) (int64, error) {
	q.purge = pq
	return 2, nil
}

// TestDeadLetterRequestsBecomeQueries: every request field reaches the
// dispatcher's query, and its answer the response.
func TestDeadLetterRequestsBecomeQueries(t *testing.T) {
	q := &queries{}
	c := client(t, Config{Events: openLog(t), DeadLetters: q})
	ctx := t.Context()
	since, until := time.Unix(100, 0).UTC(), time.Unix(200, 0).UTC()
	r, err := c.ListDeadLetters(ctx, &adminv1.ListDeadLettersRequest{
		Subscription: "email", Source: "hasura", Type: "users.*", IncludeResolved: true,
		Since: timestamppb.New(since), Until: timestamppb.New(until), PageSize: 7, PageToken: "tok",
	})
	if err != nil || len(r.GetDeadLetters()) != 1 || r.GetNextPageToken() != "next" {
		t.Fatalf("list: %v %v", r, err)
	}
	want := dispatch.DeadLetterQuery{Subscription: "email", Source: "hasura", Type: "users.*", IncludeResolved: true,
		Since: since, Until: until, PageSize: 7, PageToken: "tok"}
	if q.list != want {
		t.Errorf("query %+v, want %+v", q.list, want)
	}
	if r, err := c.ResolveDeadLetter(ctx, &adminv1.ResolveDeadLetterRequest{Id: "d9"}); err != nil || r.GetDeadLetter().GetId() != "d9" {
		t.Fatalf("resolve: %v %v", r, err)
	}
	p, err := c.PurgeDeadLetters(ctx, &adminv1.PurgeDeadLettersRequest{Subscription: "email", IncludeOpen: true, Before: timestamppb.New(until)})
	if err != nil || p.GetPurged() != 2 {
		t.Fatalf("purge: %v %v", p, err)
	}
	if want := (dispatch.PurgeQuery{Subscription: "email", IncludeOpen: true, Before: until}); q.purge != want {
		t.Errorf("purge query %+v, want %+v", q.purge, want)
	}
}
