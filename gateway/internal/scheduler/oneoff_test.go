package scheduler

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	"github.com/hookmesh/hookmesh/gateway/internal/jstest"
	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/eventually"
)

func mustCreate(t *testing.T, s *running, req *adminv1.CreateScheduledEventRequest) *adminv1.ScheduledEvent {
	t.Helper()
	resp, err := s.CreateScheduledEvent(t.Context(), req)
	if err != nil {
		t.Fatalf("CreateScheduledEvent: %v", err)
	}
	return resp.GetScheduledEvent()
}

func listAll(t *testing.T, s *running, state adminv1.ScheduledEventState) []*adminv1.ScheduledEvent {
	t.Helper()
	resp, err := s.ListScheduledEvents(t.Context(), &adminv1.ListScheduledEventsRequest{State: state, PageSize: 1000})
	if err != nil {
		t.Fatalf("ListScheduledEvents: %v", err)
	}
	return resp.GetScheduledEvents()
}

func stateOf(t *testing.T, s *running, id string) adminv1.ScheduledEventState {
	t.Helper()
	for _, e := range listAll(t, s, 0) {
		if e.GetId() == id {
			return e.GetState()
		}
	}
	t.Fatalf("scheduled event %s not listed", id)
	return 0
}

// TestOneOffSurvivesRestartAndFiresOnce: created on one scheduler, fired by the next
// after a restart, exactly once, carrying what was scheduled.
func TestOneOffSurvivesRestartAndFiresOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clk := newFakeClock(utc("2026-06-01T08:00:00Z"))
	log := openLog(t, dir)
	s := start(t, log, Config{Clock: clk})
	payload, _ := structpb.NewValue(map[string]any{"order_id": "42", "attempt": 1.0})
	created := mustCreate(t, s, &adminv1.CreateScheduledEventRequest{
		Name: "payment-reminder", ScheduledTime: tsOf(utc("2026-06-01T10:00:00Z")),
		Payload: payload, Comment: "remind customer 42", Tolerance: durationpb.New(time.Hour),
	})
	if _, err := uuid.Parse(created.GetId()); err != nil || uuid.MustParse(created.GetId()).Version() != 7 {
		t.Errorf("id %q is not a UUIDv7", created.GetId())
	}
	if created.GetState() != adminv1.ScheduledEventState_SCHEDULED_EVENT_STATE_SCHEDULED || !created.GetCreateTime().AsTime().Equal(clk.Now()) ||
		created.GetTolerance().AsDuration() != time.Hour || created.GetComment() != "remind customer 42" {
		t.Errorf("created %v", created)
	}
	settle(t, clk, utc("2026-06-01T09:00:00Z"), s)
	s.stop()
	_ = log.Close()

	log = openLog(t, dir)
	cnt := &countingLog{log: log}
	s = start(t, log, Config{Clock: clk, Log: cnt})
	waitIdle(t, clk.Now(), s)
	if got := listAll(t, s, 0); len(got) != 1 || got[0].GetId() != created.GetId() || got[0].GetState() != adminv1.ScheduledEventState_SCHEDULED_EVENT_STATE_SCHEDULED {
		t.Fatalf("after restart: %v", got)
	}
	if eventsOf(t, log, SourceScheduled) != nil {
		t.Fatal("fired before its time")
	}
	settle(t, clk, utc("2026-06-01T10:00:00Z"), s)
	ev := waitEvents(t, log, SourceScheduled, 1)[0]
	sch := ev.GetScheduled()
	if ev.GetId() != created.GetId() || ev.GetType() != "scheduled.payment-reminder" || ev.GetSubject() != "payment-reminder" ||
		sch.GetKind() != eventv1.ScheduledKind_SCHEDULED_KIND_ONE_OFF || sch.GetName() != "payment-reminder" ||
		!sch.GetScheduledTime().AsTime().Equal(utc("2026-06-01T10:00:00Z")) || !sch.GetCreatedAt().AsTime().Equal(utc("2026-06-01T08:00:00Z")) ||
		sch.GetComment() != "remind customer 42" || sch.GetScheduler() != "hookmesh" ||
		sch.GetPayload().GetStructValue().GetFields()["order_id"].GetStringValue() != "42" {
		t.Errorf("fired event %v", ev)
	}
	if got := stateOf(t, s, created.GetId()); got != adminv1.ScheduledEventState_SCHEDULED_EVENT_STATE_FIRED {
		t.Errorf("state %v, want FIRED", got)
	}
	if got := testutil.ToFloat64(s.m.oneOff.WithLabelValues("fired")); got != 1 {
		t.Errorf("hookmesh_scheduled_events_total{state=fired} = %v", got)
	}
	_, err := s.DeleteScheduledEvent(t.Context(), &adminv1.DeleteScheduledEventRequest{Id: created.GetId()})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("deleting a fired event: %v, want FAILED_PRECONDITION", err)
	}
	s.stop()
	_ = log.Close()

	// Another restart later: nothing fires again.
	clk.Set(utc("2026-06-01T10:30:00Z"))
	log = openLog(t, dir)
	cnt = &countingLog{log: log}
	s = start(t, log, Config{Clock: clk, Log: cnt})
	waitIdle(t, clk.Now(), s)
	settle(t, clk, utc("2026-06-01T12:00:00Z"), s)
	if n := len(eventsOf(t, log, SourceScheduled)); n != 1 || cnt.calls.Load() != 0 {
		t.Errorf("%d events and %d appends after the second restart, want 1 and 0", n, cnt.calls.Load())
	}
}

// TestCancelledNeverFires: a cancelled event stays out of the log while one
// scheduled for the same instant fires.
func TestCancelledNeverFires(t *testing.T) {
	t.Parallel()
	log := openLog(t, t.TempDir())
	clk := newFakeClock(utc("2026-06-01T08:00:00Z"))
	s := start(t, log, Config{Clock: clk})
	at := tsOf(utc("2026-06-01T09:00:00Z"))
	cancelled := mustCreate(t, s, &adminv1.CreateScheduledEventRequest{Name: "cancelled", ScheduledTime: at})
	marker := mustCreate(t, s, &adminv1.CreateScheduledEventRequest{Name: "marker", ScheduledTime: at})
	resp, err := s.DeleteScheduledEvent(t.Context(), &adminv1.DeleteScheduledEventRequest{Id: cancelled.GetId()})
	if err != nil || resp.GetScheduledEvent().GetState() != adminv1.ScheduledEventState_SCHEDULED_EVENT_STATE_CANCELLED {
		t.Fatalf("cancel: %v %v", resp, err)
	}
	// Cancelling again is harmless.
	if resp, err := s.DeleteScheduledEvent(t.Context(), &adminv1.DeleteScheduledEventRequest{Id: cancelled.GetId()}); err != nil ||
		resp.GetScheduledEvent().GetState() != adminv1.ScheduledEventState_SCHEDULED_EVENT_STATE_CANCELLED {
		t.Errorf("cancel again: %v %v", resp, err)
	}
	settle(t, clk, utc("2026-06-01T09:00:00Z"), s)
	settle(t, clk, utc("2026-06-01T10:00:00Z"), s)
	evs := waitEvents(t, log, SourceScheduled, 1)
	if evs[0].GetId() != marker.GetId() {
		t.Errorf("fired %v, want only the marker", ids(evs))
	}
	if _, _, err := log.Get(t.Context(), SourceScheduled, cancelled.GetId()); !errors.Is(err, eventlog.ErrNotFound) {
		t.Errorf("cancelled event in the log: %v", err)
	}
	if got := stateOf(t, s, cancelled.GetId()); got != adminv1.ScheduledEventState_SCHEDULED_EVENT_STATE_CANCELLED {
		t.Errorf("state %v", got)
	}
	if got := testutil.ToFloat64(s.m.oneOff.WithLabelValues("cancelled")); got != 1 {
		t.Errorf("hookmesh_scheduled_events_total{state=cancelled} = %v", got)
	}
}

// TestOneOffSkippedBeyondTolerance: an event found later than its tolerance (the
// scheduler was down) is marked SKIPPED, counted, and never appended.
func TestOneOffSkippedBeyondTolerance(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log := openLog(t, dir)
	clk := newFakeClock(utc("2026-06-01T08:00:00Z"))
	s := start(t, log, Config{Clock: clk})
	late := mustCreate(t, s, &adminv1.CreateScheduledEventRequest{Name: "short", ScheduledTime: tsOf(utc("2026-06-01T09:00:00Z")), Tolerance: durationpb.New(10 * time.Minute)})
	ok := mustCreate(t, s, &adminv1.CreateScheduledEventRequest{Name: "default", ScheduledTime: tsOf(utc("2026-06-01T09:00:00Z"))})
	s.stop()
	_ = log.Close()

	clk.Set(utc("2026-06-01T11:00:00Z"))
	log = openLog(t, dir)
	s = start(t, log, Config{Clock: clk})
	waitIdle(t, clk.Now(), s)
	evs := waitEvents(t, log, SourceScheduled, 1)
	if evs[0].GetId() != ok.GetId() {
		t.Errorf("fired %v, want only the one within the default 6h tolerance", ids(evs))
	}
	if got := stateOf(t, s, late.GetId()); got != adminv1.ScheduledEventState_SCHEDULED_EVENT_STATE_SKIPPED {
		t.Errorf("state %v, want SKIPPED", got)
	}
	if got := testutil.ToFloat64(s.m.oneOff.WithLabelValues("skipped")); got != 1 {
		t.Errorf("hookmesh_scheduled_events_total{state=skipped} = %v", got)
	}
	_, err := s.DeleteScheduledEvent(t.Context(), &adminv1.DeleteScheduledEventRequest{Id: late.GetId()})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("deleting a skipped event: %v, want FAILED_PRECONDITION", err)
	}
}

// TestOneOffTwoGatewaysFireOnce: many events due at once on two schedulers; each is
// appended once.
func TestOneOffTwoGatewaysFireOnce(t *testing.T) {
	t.Parallel()
	url := jstest.Start(t).URL()
	logA := jstest.OpenLog(t, eventlog.Config{URL: url, Name: "gateway-a"})
	logB := jstest.OpenLog(t, eventlog.Config{URL: url, Name: "gateway-b"})
	clk := newFakeClock(utc("2026-06-01T08:00:00Z"))
	cntA, cntB := &countingLog{log: logA}, &countingLog{log: logB}
	a := start(t, logA, Config{Clock: clk, Log: cntA})
	b := start(t, logB, Config{Clock: clk, Log: cntB})
	const n = 30
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		mustCreate(t, s, &adminv1.CreateScheduledEventRequest{Name: "batch", ScheduledTime: tsOf(utc("2026-06-01T09:00:00Z").Add(time.Duration(i%3) * time.Second))})
	}
	waitIdle(t, clk.Now(), a, b)
	settle(t, clk, utc("2026-06-01T09:00:05Z"), a, b)
	waitEvents(t, logA, SourceScheduled, n)
	eventually.True(t, 20*time.Second, "every event marked fired", func() bool {
		return len(listAll(t, a, adminv1.ScheduledEventState_SCHEDULED_EVENT_STATE_FIRED)) == n
	})
	if calls := cntA.calls.Load() + cntB.calls.Load(); calls != n {
		t.Errorf("%d appends for %d events (a %d, b %d)", calls, n, cntA.calls.Load(), cntB.calls.Load())
	}
}

func TestCreateScheduledEventInvalid(t *testing.T) {
	t.Parallel()
	log := openLog(t, t.TempDir())
	clk := newFakeClock(utc("2026-06-01T08:00:00Z"))
	s := start(t, log, Config{Clock: clk})
	future := tsOf(utc("2026-06-01T09:00:00Z"))
	big, _ := structpb.NewValue(strings.Repeat("x", MaxPayloadBytes))
	for _, tc := range []struct {
		name    string
		req     *adminv1.CreateScheduledEventRequest
		mention string
	}{
		{"no name", &adminv1.CreateScheduledEventRequest{ScheduledTime: future}, "name"},
		{"name with a dot", &adminv1.CreateScheduledEventRequest{Name: "a.b", ScheduledTime: future}, "name"},
		{"name with a space", &adminv1.CreateScheduledEventRequest{Name: "a b", ScheduledTime: future}, "name"},
		{"name too long", &adminv1.CreateScheduledEventRequest{Name: strings.Repeat("n", 65), ScheduledTime: future}, "name"},
		{"no time", &adminv1.CreateScheduledEventRequest{Name: "x"}, "scheduled_time is required"},
		{"invalid time", &adminv1.CreateScheduledEventRequest{Name: "x", ScheduledTime: &timestamppb.Timestamp{Seconds: 1, Nanos: -1}}, "not a valid time"},
		{"past the tolerance", &adminv1.CreateScheduledEventRequest{Name: "x", ScheduledTime: tsOf(utc("2026-06-01T01:00:00Z"))}, "never fire"},
		{"past a short tolerance", &adminv1.CreateScheduledEventRequest{Name: "x", ScheduledTime: tsOf(utc("2026-06-01T07:00:00Z")), Tolerance: durationpb.New(time.Minute)}, "never fire"},
		{"negative tolerance", &adminv1.CreateScheduledEventRequest{Name: "x", ScheduledTime: future, Tolerance: durationpb.New(-time.Second)}, "tolerance"},
		{"invalid tolerance", &adminv1.CreateScheduledEventRequest{Name: "x", ScheduledTime: future, Tolerance: &durationpb.Duration{Seconds: 1, Nanos: -1}}, "tolerance"},
		{"payload too large", &adminv1.CreateScheduledEventRequest{Name: "x", ScheduledTime: future, Payload: big}, "payload"},
		{"payload not JSON", &adminv1.CreateScheduledEventRequest{Name: "x", ScheduledTime: future, Payload: structpb.NewNumberValue(nan())}, "payload"},
		{"comment too long", &adminv1.CreateScheduledEventRequest{Name: "x", ScheduledTime: future, Comment: strings.Repeat("c", MaxCommentBytes+1)}, "comment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateScheduledEvent(t.Context(), tc.req)
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tc.mention) {
				t.Errorf("got %v, want INVALID_ARGUMENT mentioning %q", err, tc.mention)
			}
		})
	}
	if got := listAll(t, s, 0); len(got) != 0 {
		t.Errorf("invalid requests stored %v", got)
	}
	// The edge cases that are valid: in the past but within the tolerance, zero tolerance (default).
	e := mustCreate(t, s, &adminv1.CreateScheduledEventRequest{Name: "recent", ScheduledTime: tsOf(utc("2026-06-01T07:00:00Z")), Tolerance: durationpb.New(0)})
	if e.GetTolerance().AsDuration() != DefaultTolerance {
		t.Errorf("tolerance %v, want the default", e.GetTolerance().AsDuration())
	}
	waitEvents(t, log, SourceScheduled, 1) // due already: fires at once
}

func TestDeleteScheduledEventErrors(t *testing.T) {
	t.Parallel()
	log := openLog(t, t.TempDir())
	clk := newFakeClock(utc("2026-01-10T10:30:00Z"))
	s := start(t, log, Config{Clock: clk, Schedules: []Schedule{{Name: "hourly", Cron: "0 * * * *", Tolerance: time.Minute}}})
	waitIdle(t, clk.Now(), s)
	settle(t, clk, utc("2026-01-10T12:30:00Z"), s) // 11:00 and 12:00 skipped
	for _, tc := range []struct {
		name, id string
		code     codes.Code
	}{
		{"empty id", "", codes.InvalidArgument},
		{"unknown uuid", uuid.Must(uuid.NewV7()).String(), codes.NotFound},
		{"not an id", "no such thing", codes.NotFound},
		{"urn form of a uuid", "urn:uuid:" + uuid.Must(uuid.NewV7()).String(), codes.NotFound},
		{"upper-case uuid", strings.ToUpper(uuid.Must(uuid.NewV7()).String()), codes.NotFound},
		{"skip record", "cron.hourly@2026-01-10T11:00:00Z", codes.FailedPrecondition},
		{"unknown skip record", "cron.hourly@2026-01-10T13:00:00Z", codes.NotFound},
		{"skip record of an unknown schedule", "cron.nope@2026-01-10T11:00:00Z", codes.NotFound},
		{"malformed skip record id", "cron.hourly", codes.NotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.DeleteScheduledEvent(t.Context(), &adminv1.DeleteScheduledEventRequest{Id: tc.id})
			if status.Code(err) != tc.code {
				t.Errorf("got %v, want %v", err, tc.code)
			}
		})
	}
}

func TestListScheduledEvents(t *testing.T) {
	t.Parallel()
	log := openLog(t, t.TempDir())
	clk := newFakeClock(utc("2026-06-01T08:00:00Z"))
	s := start(t, log, Config{Clock: clk})
	var want []string
	for i, at := range []string{"2026-06-03T10:00:00Z", "2026-06-01T09:00:00Z", "2026-06-02T10:00:00Z", "2026-06-01T09:00:00Z", "2026-07-01T00:00:00Z", "2099-01-01T00:00:00Z", "2026-06-01T12:00:00Z"} {
		e := mustCreate(t, s, &adminv1.CreateScheduledEventRequest{Name: "e" + string(rune('0'+i)), ScheduledTime: tsOf(utc(at))})
		want = append(want, e.GetScheduledTime().AsTime().Format(time.RFC3339)+" "+e.GetId())
	}
	cancelled := listAll(t, s, 0)[0]
	if _, err := s.DeleteScheduledEvent(t.Context(), &adminv1.DeleteScheduledEventRequest{Id: cancelled.GetId()}); err != nil {
		t.Fatal(err)
	}
	sortStrings(want)

	var got []string
	token := ""
	pages := 0
	for {
		resp, err := s.ListScheduledEvents(t.Context(), &adminv1.ListScheduledEventsRequest{PageSize: 3, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, e := range resp.GetScheduledEvents() {
			got = append(got, e.GetScheduledTime().AsTime().Format(time.RFC3339)+" "+e.GetId())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") || pages != 3 {
		t.Errorf("paged list (%d pages)\n got %v\nwant %v", pages, got, want)
	}
	if got := listAll(t, s, adminv1.ScheduledEventState_SCHEDULED_EVENT_STATE_CANCELLED); len(got) != 1 || got[0].GetId() != cancelled.GetId() {
		t.Errorf("CANCELLED filter: %v", got)
	}
	if got := listAll(t, s, adminv1.ScheduledEventState_SCHEDULED_EVENT_STATE_SCHEDULED); len(got) != 6 {
		t.Errorf("SCHEDULED filter: %d entries", len(got))
	}
	if got := listAll(t, s, adminv1.ScheduledEventState_SCHEDULED_EVENT_STATE_FIRED); len(got) != 0 {
		t.Errorf("FIRED filter: %v", got)
	}
	for _, tc := range []struct {
		name string
		req  *adminv1.ListScheduledEventsRequest
	}{
		{"negative page size", &adminv1.ListScheduledEventsRequest{PageSize: -1}},
		{"token not base64", &adminv1.ListScheduledEventsRequest{PageToken: "!!"}},
		{"token without id", &adminv1.ListScheduledEventsRequest{PageToken: "MTIzLjA"}},
		{"token with bad time", &adminv1.ListScheduledEventsRequest{PageToken: "eHx5"}},
		{"unknown state", &adminv1.ListScheduledEventsRequest{State: 99}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.ListScheduledEvents(t.Context(), tc.req); status.Code(err) != codes.InvalidArgument {
				t.Errorf("got %v, want INVALID_ARGUMENT", err)
			}
		})
	}
}

// TestRetention: finished one-off events are deleted once they are older than the
// retention; scheduled ones stay.
func TestRetention(t *testing.T) {
	t.Parallel()
	log := openLog(t, t.TempDir())
	clk := newFakeClock(utc("2026-06-01T08:00:00Z"))
	s := start(t, log, Config{Clock: clk, Retention: time.Hour})
	fired := mustCreate(t, s, &adminv1.CreateScheduledEventRequest{Name: "soon", ScheduledTime: tsOf(utc("2026-06-01T08:10:00Z"))})
	later := mustCreate(t, s, &adminv1.CreateScheduledEventRequest{Name: "later", ScheduledTime: tsOf(utc("2026-06-02T08:00:00Z"))})
	settle(t, clk, utc("2026-06-01T08:10:00Z"), s)
	settle(t, clk, utc("2026-06-01T09:00:00Z"), s)
	if got := stateOf(t, s, fired.GetId()); got != adminv1.ScheduledEventState_SCHEDULED_EVENT_STATE_FIRED {
		t.Fatalf("state %v", got)
	}
	settle(t, clk, utc("2026-06-01T09:12:00Z"), s)
	got := listAll(t, s, 0)
	if len(got) != 1 || got[0].GetId() != later.GetId() {
		t.Errorf("after the retention: %v, want only the scheduled one", got)
	}
	if _, err := s.DeleteScheduledEvent(t.Context(), &adminv1.DeleteScheduledEventRequest{Id: fired.GetId()}); status.Code(err) != codes.NotFound {
		t.Errorf("deleting a purged event: %v, want NOT_FOUND", err)
	}
}

// TestStoreUnavailable: with the connection gone the admin methods answer
// UNAVAILABLE rather than failing silently.
func TestStoreUnavailable(t *testing.T) {
	t.Parallel()
	log := openLog(t, t.TempDir())
	clk := newFakeClock(utc("2026-06-01T08:00:00Z"))
	s := start(t, log, Config{Clock: clk, Timeout: 500 * time.Millisecond})
	s.stop()
	_ = log.Close()
	ctx := t.Context()
	_, err := s.CreateScheduledEvent(ctx, &adminv1.CreateScheduledEventRequest{Name: "x", ScheduledTime: tsOf(utc("2026-06-01T09:00:00Z"))})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("create: %v", err)
	}
	_, err = s.DeleteScheduledEvent(ctx, &adminv1.DeleteScheduledEventRequest{Id: uuid.Must(uuid.NewV7()).String()})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("delete: %v", err)
	}
	lctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err = s.ListScheduledEvents(lctx, &adminv1.ListScheduledEventsRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("list: %v", err)
	}
	if _, err := s.Schedules(lctx); err == nil {
		t.Error("Schedules succeeded without a connection")
	}
}
