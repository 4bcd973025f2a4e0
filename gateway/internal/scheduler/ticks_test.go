package scheduler

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	"github.com/hookmesh/hookmesh/gateway/internal/jstest"
	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/eventually"
)

// TestTicksAcrossDST steps a fake clock through both daylight-saving changes of
// Europe/Berlin and checks which ticks fire, at which instants, and when.
func TestTicksAcrossDST(t *testing.T) {
	const step = 30 * time.Minute
	for _, tc := range []struct {
		name     string
		from, to string
		want     map[string][]string // schedule -> scheduled times (UTC)
	}{
		{
			// 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC).
			name: "spring forward", from: "2026-03-28T20:00:00Z", to: "2026-03-29T04:00:00Z",
			want: map[string][]string{
				// 02:30 does not exist that night: it fires when the gap ends, 03:00 CEST.
				"night": {"2026-03-29T01:00:00Z"},
				"hourly": {"2026-03-28T21:00:00Z", "2026-03-28T22:00:00Z", "2026-03-28T23:00:00Z", "2026-03-29T00:00:00Z",
					"2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z", "2026-03-29T03:00:00Z", "2026-03-29T04:00:00Z"},
			},
		},
		{
			// 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00 UTC).
			name: "fall back", from: "2026-10-24T21:00:00Z", to: "2026-10-25T04:00:00Z",
			want: map[string][]string{
				// 02:30 happens twice: it fires once, at the first (summer time) pass.
				"night": {"2026-10-25T00:30:00Z"},
				// 02:00 too: the second pass through the repeated hour (01:00 UTC) fires nothing.
				"hourly": {"2026-10-24T22:00:00Z", "2026-10-24T23:00:00Z", "2026-10-25T00:00:00Z",
					"2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z", "2026-10-25T04:00:00Z"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			log := openLog(t, t.TempDir())
			clk := newFakeClock(utc(tc.from))
			s := start(t, log, Config{Clock: clk, Schedules: []Schedule{
				{Name: "night", Cron: "30 2 * * *", Timezone: "Europe/Berlin"},
				{Name: "hourly", Cron: "0 * * * *", Timezone: "Europe/Berlin", Payload: structpb.NewStringValue("ping")},
			}})
			waitIdle(t, clk.Now(), s)
			for at := utc(tc.from).Add(step); !at.After(utc(tc.to)); at = at.Add(step) {
				settle(t, clk, at, s)
			}
			n := 0
			for _, v := range tc.want {
				n += len(v)
			}
			evs := waitEvents(t, log, SourceCron, n)
			got := map[string][]string{}
			for _, ev := range evs {
				sch := ev.GetScheduled()
				at := sch.GetScheduledTime().AsTime()
				got[sch.GetName()] = append(got[sch.GetName()], at.Format(time.RFC3339))
				received := ev.GetReceivedTime().AsTime()
				// Fired at the first clock step at or after its instant: never early, never a step late.
				if received.Before(at) || received.Sub(at) >= step {
					t.Errorf("%s fired at %v, scheduled %v", ev.GetId(), received, at)
				}
				if ev.GetId() != TickID(sch.GetName(), at) || ev.GetType() != "cron."+sch.GetName() || ev.GetSource() != "cron" {
					t.Errorf("event identity %s %s %s", ev.GetSource(), ev.GetId(), ev.GetType())
				}
				if !ev.GetTime().AsTime().Equal(at) || sch.GetKind() != eventv1.ScheduledKind_SCHEDULED_KIND_CRON || sch.GetScheduler() != "hookmesh" {
					t.Errorf("event %s: time %v kind %v scheduler %q", ev.GetId(), ev.GetTime().AsTime(), sch.GetKind(), sch.GetScheduler())
				}
				if sch.GetName() == "hourly" && sch.GetPayload().GetStringValue() != "ping" {
					t.Errorf("event %s payload %v, want the schedule's", ev.GetId(), sch.GetPayload())
				}
			}
			for name, want := range tc.want {
				slices.Sort(got[name])
				if strings.Join(got[name], " ") != strings.Join(want, " ") {
					t.Errorf("%s ticks\n got %v\nwant %v", name, got[name], want)
				}
			}
			if v := testutil.ToFloat64(s.m.ticks.WithLabelValues("hourly")); int(v) != len(tc.want["hourly"]) {
				t.Errorf("hookmesh_schedule_ticks_total{schedule=hourly} = %v, want %d", v, len(tc.want["hourly"]))
			}
		})
	}
}

// TestTwoGatewaysEmitEachTickOnce runs two schedulers, each with its own connection
// and event log handle on one NATS server, on the same clock: every tick is in the
// log once, and no tick was even appended twice.
func TestTwoGatewaysEmitEachTickOnce(t *testing.T) {
	t.Parallel()
	url := jstest.Start(t).URL()
	logA := jstest.OpenLog(t, eventlog.Config{URL: url, Name: "gateway-a"})
	logB := jstest.OpenLog(t, eventlog.Config{URL: url, Name: "gateway-b"})
	clk := newFakeClock(utc("2026-05-04T06:58:00Z"))
	schedules := []Schedule{
		{Name: "every-5", Cron: "*/5 * * * *"},
		{Name: "health-check", Cron: "@hourly", Tolerance: 30 * time.Minute},
		{Name: "daily-report", Cron: "0 9 * * *"},
	}
	var mu sync.Mutex
	hooked := map[string][]time.Time{}
	hook := func(gw string) TickFunc {
		return func(_ context.Context, at time.Time) {
			mu.Lock()
			defer mu.Unlock()
			hooked[gw] = append(hooked[gw], at)
		}
	}
	cntA, cntB := &countingLog{log: logA}, &countingLog{log: logB}
	a := start(t, logA, Config{Log: cntA, Clock: clk, Schedules: schedules, OnTick: map[string]TickFunc{"health-check": hook("a")}})
	b := start(t, logB, Config{Log: cntB, Clock: clk, Schedules: schedules, OnTick: map[string]TickFunc{"health-check": hook("b")}})
	waitIdle(t, clk.Now(), a, b)

	end := utc("2026-05-04T09:10:00Z")
	for at := clk.Now().Add(time.Minute); !at.After(end); at = at.Add(time.Minute) {
		settle(t, clk, at, a, b)
	}
	// 07:00 … 09:10 every 5 minutes, 07:00 08:00 09:00 hourly, 09:00 daily.
	want := 27 + 3 + 1
	evs := waitEvents(t, logA, SourceCron, want)
	seen := map[string]bool{}
	for _, ev := range evs {
		if seen[ev.GetId()] {
			t.Errorf("tick %s stored twice", ev.GetId())
		}
		seen[ev.GetId()] = true
	}
	for _, id := range []string{"every-5@2026-05-04T07:00:00Z", "every-5@2026-05-04T09:10:00Z", "health-check@2026-05-04T08:00:00Z", "daily-report@2026-05-04T09:00:00Z"} {
		if !seen[id] {
			t.Errorf("tick %s missing", id)
		}
	}
	if calls := cntA.calls.Load() + cntB.calls.Load(); calls != int64(want) {
		t.Errorf("%d appends for %d ticks (a %d, b %d): a replica appended a tick another had claimed", calls, want, cntA.calls.Load(), cntB.calls.Load())
	}
	if cntA.calls.Load() == 0 || cntB.calls.Load() == 0 {
		t.Logf("one replica emitted every tick (a %d, b %d)", cntA.calls.Load(), cntB.calls.Load())
	}
	emitted := testutil.ToFloat64(a.m.ticks.WithLabelValues("every-5")) + testutil.ToFloat64(b.m.ticks.WithLabelValues("every-5"))
	if emitted != 27 {
		t.Errorf("hookmesh_schedule_ticks_total{every-5} summed over replicas = %v, want 27", emitted)
	}

	// Both gateways ran their own health check for every hourly tick, once.
	wantHooks := []time.Time{utc("2026-05-04T07:00:00Z"), utc("2026-05-04T08:00:00Z"), utc("2026-05-04T09:00:00Z")}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		ok := slices.Equal(hooked["a"], wantHooks) && slices.Equal(hooked["b"], wantHooks)
		got := map[string][]time.Time{"a": slices.Clone(hooked["a"]), "b": slices.Clone(hooked["b"])}
		mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health-check hooks ran for %v, want %v in each gateway", got, wantHooks)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestExpiredClaimIsTakenOver: a replica that claimed a tick and hangs loses it when
// its lease expires; the tick is stored once even when the first replica's append
// finally goes through.
func TestExpiredClaimIsTakenOver(t *testing.T) {
	t.Parallel()
	log := openLog(t, t.TempDir())
	clk := newFakeClock(utc("2026-05-04T06:59:30Z"))
	schedules := []Schedule{{Name: "hourly", Cron: "0 * * * *"}}
	hung := &countingLog{log: log}
	block := make(chan struct{})
	hung.block.Store(&block)
	// A long Timeout: the append stays blocked in real time until the test releases it.
	a := start(t, log, Config{Log: hung, Clock: clk, Schedules: schedules, Lease: 10 * time.Second, Timeout: time.Minute})
	var release sync.Once
	t.Cleanup(func() { release.Do(func() { close(block) }) })
	waitIdle(t, clk.Now(), a)
	clk.Set(utc("2026-05-04T07:00:00Z"))
	eventually.True(t, 20*time.Second, "a to claim and start appending", func() bool { return hung.calls.Load() == 1 })

	healthy := &countingLog{log: log}
	b := start(t, log, Config{Log: healthy, Clock: clk, Schedules: schedules, Lease: 10 * time.Second})
	waitIdle(t, clk.Now(), b)
	if healthy.calls.Load() != 0 {
		t.Fatal("b appended a tick a holds a live claim on")
	}
	settle(t, clk, utc("2026-05-04T07:00:11Z"), b) // a's lease expired
	evs := waitEvents(t, log, SourceCron, 1)
	if evs[0].GetId() != "hourly@2026-05-04T07:00:00Z" || healthy.calls.Load() != 1 {
		t.Fatalf("after take-over: events %v, b appended %d", ids(evs), healthy.calls.Load())
	}
	release.Do(func() { close(block) }) // a's append goes through late: a duplicate
	eventually.True(t, 20*time.Second, "a's late append", func() bool { return hung.duplicates.Load() == 1 })
	settle(t, clk, utc("2026-05-04T08:00:00Z"), a, b)
	evs = waitEvents(t, log, SourceCron, 2)
	if evs[1].GetId() != "hourly@2026-05-04T08:00:00Z" {
		t.Errorf("events %v", ids(evs))
	}
}

// TestAppendFailureIsRetried: while the log refuses appends the tick stays claimed
// and is retried; it is stored once it can be.
func TestAppendFailureIsRetried(t *testing.T) {
	t.Parallel()
	log := openLog(t, t.TempDir())
	clk := newFakeClock(utc("2026-05-04T06:59:00Z"))
	flaky := &countingLog{log: log}
	flaky.failNext.Store(3)
	s := start(t, log, Config{Log: flaky, Clock: clk, Schedules: []Schedule{{Name: "hourly", Cron: "0 * * * *"}}})
	waitIdle(t, clk.Now(), s)
	for _, at := range []string{"07:00:00", "07:00:01", "07:00:02", "07:00:03"} {
		settle(t, clk, utc("2026-05-04T"+at+"Z"), s)
	}
	evs := waitEvents(t, log, SourceCron, 1)
	if evs[0].GetId() != "hourly@2026-05-04T07:00:00Z" || flaky.calls.Load() != 4 {
		t.Errorf("events %v after %d appends", ids(evs), flaky.calls.Load())
	}
	if got := testutil.ToFloat64(s.m.errors.WithLabelValues("cron")); got != 3 {
		t.Errorf("hookmesh_scheduler_errors_total{part=cron} = %v, want 3", got)
	}
	if r := evs[0].GetReceivedTime().AsTime(); r.Before(utc("2026-05-04T07:00:01Z")) || !evs[0].GetTime().AsTime().Equal(utc("2026-05-04T07:00:00Z")) {
		t.Errorf("received %v, time %v: want a retry after the failures, carrying the scheduled time", r, evs[0].GetTime().AsTime())
	}
}

// TestRestartCatchUp stops the scheduler, lets time pass, and starts a new one on
// the same data: ticks within the tolerance are emitted late with their scheduled
// time, older ones are skipped and recorded (metric, admin API, Schedules).
func TestRestartCatchUp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	schedules := []Schedule{
		{Name: "hourly", Cron: "0 * * * *", Tolerance: 90 * time.Minute},
		{Name: "daily-report", Cron: "0 9 * * *", Tolerance: time.Hour},
	}
	clk := newFakeClock(utc("2026-01-10T10:30:00Z"))

	log := openLog(t, dir)
	s := start(t, log, Config{Clock: clk, Schedules: schedules})
	waitIdle(t, clk.Now(), s)
	settle(t, clk, utc("2026-01-10T11:00:00Z"), s)
	waitEvents(t, log, SourceCron, 1)
	s.stop()
	_ = log.Close()

	// Down from 11:00 to 14:20: 12:00 is 2h20 late (skipped), 13:00 and 14:00 are within 90 minutes.
	clk.Set(utc("2026-01-10T14:20:00Z"))
	log = openLog(t, dir)
	s = start(t, log, Config{Clock: clk, Schedules: schedules})
	waitIdle(t, clk.Now(), s)
	evs := waitEvents(t, log, SourceCron, 3)
	if got := strings.Join(ids(evs), " "); got != "hourly@2026-01-10T11:00:00Z hourly@2026-01-10T13:00:00Z hourly@2026-01-10T14:00:00Z" {
		t.Fatalf("events after restart: %s", got)
	}
	late := evs[1]
	if !late.GetScheduled().GetScheduledTime().AsTime().Equal(utc("2026-01-10T13:00:00Z")) || !late.GetReceivedTime().AsTime().Equal(utc("2026-01-10T14:20:00Z")) {
		t.Errorf("late tick: scheduled %v received %v", late.GetScheduled().GetScheduledTime().AsTime(), late.GetReceivedTime().AsTime())
	}
	if got := testutil.ToFloat64(s.m.skipped.WithLabelValues("hourly")); got != 1 {
		t.Errorf("hookmesh_schedule_ticks_skipped_total{schedule=hourly} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(s.m.skipped.WithLabelValues("daily-report")); got != 0 {
		t.Errorf("hookmesh_schedule_ticks_skipped_total{schedule=daily-report} = %v, want 0", got)
	}
	resp, err := s.ListScheduledEvents(t.Context(), &adminv1.ListScheduledEventsRequest{State: adminv1.ScheduledEventState_SCHEDULED_EVENT_STATE_SKIPPED})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetScheduledEvents()) != 1 {
		t.Fatalf("skipped entries %v", resp.GetScheduledEvents())
	}
	skip := resp.GetScheduledEvents()[0]
	if skip.GetId() != "cron.hourly@2026-01-10T12:00:00Z" || skip.GetName() != "hourly" ||
		!skip.GetScheduledTime().AsTime().Equal(utc("2026-01-10T12:00:00Z")) || !strings.Contains(skip.GetComment(), "1 tick from") ||
		skip.GetTolerance().AsDuration() != 90*time.Minute {
		t.Errorf("skipped entry %v", skip)
	}
	s.stop()
	_ = log.Close()

	// Down for two days: every daily tick and all but the newest hourly ones are too late.
	clk.Set(utc("2026-01-12T12:00:00Z"))
	log = openLog(t, dir)
	s = start(t, log, Config{Clock: clk, Schedules: schedules})
	waitIdle(t, clk.Now(), s)
	evs = waitEvents(t, log, SourceCron, 5)
	if got := strings.Join(ids(evs[3:]), " "); got != "hourly@2026-01-12T11:00:00Z hourly@2026-01-12T12:00:00Z" {
		t.Errorf("events after the second restart: %s", got)
	}
	// 15:00 on the 10th to 10:00 on the 12th.
	if got := testutil.ToFloat64(s.m.skipped.WithLabelValues("hourly")); got != 44 {
		t.Errorf("hookmesh_schedule_ticks_skipped_total{schedule=hourly} = %v, want 44", got)
	}
	if got := testutil.ToFloat64(s.m.skipped.WithLabelValues("daily-report")); got != 2 {
		t.Errorf("hookmesh_schedule_ticks_skipped_total{schedule=daily-report} = %v, want 2", got)
	}
	status, err := s.Schedules(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]ScheduleStatus{}
	for _, st := range status {
		byName[st.Name] = st
	}
	h, d := byName["hourly"], byName["daily-report"]
	if h.SkippedTotal != 45 || len(h.Skips) != 2 || !h.LastEmitted.Equal(utc("2026-01-12T12:00:00Z")) || !h.NextTick.Equal(utc("2026-01-12T13:00:00Z")) {
		t.Errorf("hourly status %+v", h)
	}
	if d.SkippedTotal != 2 || len(d.Skips) != 1 || d.Skips[0].Count != 2 || !d.Skips[0].First.Equal(utc("2026-01-11T09:00:00Z")) ||
		!d.Skips[0].Last.Equal(utc("2026-01-12T09:00:00Z")) || !d.NextTick.Equal(utc("2026-01-13T09:00:00Z")) || !d.LastEmitted.IsZero() {
		t.Errorf("daily-report status %+v", d)
	}
	resp, err = s.ListScheduledEvents(t.Context(), &adminv1.ListScheduledEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range resp.GetScheduledEvents() {
		got = append(got, e.GetId())
	}
	if want := "cron.hourly@2026-01-10T12:00:00Z cron.hourly@2026-01-10T15:00:00Z cron.daily-report@2026-01-11T09:00:00Z"; strings.Join(got, " ") != want {
		t.Errorf("skip records %v, want %s", got, want)
	}
}

// TestOnTick: the hook runs for emitted ticks, not for skipped ones, and after a
// restart once for the newest tick still within the tolerance.
func TestOnTick(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clk := newFakeClock(utc("2026-02-01T09:59:00Z"))
	calls := make(chan time.Time, 16)
	cfg := func() Config {
		return Config{Clock: clk, Schedules: []Schedule{{Name: "health-check", Cron: "0 * * * *", Tolerance: 30 * time.Minute}},
			OnTick: map[string]TickFunc{"health-check": func(_ context.Context, at time.Time) { calls <- at }}}
	}
	log := openLog(t, dir)
	s := start(t, log, cfg())
	waitIdle(t, clk.Now(), s)
	settle(t, clk, utc("2026-02-01T10:00:00Z"), s)
	if got := recvTime(t, calls); !got.Equal(utc("2026-02-01T10:00:00Z")) {
		t.Errorf("hook for %v", got)
	}
	s.stop()
	_ = log.Close()

	clk.Set(utc("2026-02-01T10:10:00Z"))
	log = openLog(t, dir)
	s = start(t, log, cfg())
	waitIdle(t, clk.Now(), s)
	if got := recvTime(t, calls); !got.Equal(utc("2026-02-01T10:00:00Z")) {
		t.Errorf("hook after restart for %v, want the newest tick within tolerance", got)
	}
	s.stop()
	_ = log.Close()

	clk.Set(utc("2026-02-01T14:50:00Z")) // 11:00-14:00 skipped
	log = openLog(t, dir)
	s = start(t, log, cfg())
	waitIdle(t, clk.Now(), s)
	settle(t, clk, utc("2026-02-01T15:00:00Z"), s)
	if got := recvTime(t, calls); !got.Equal(utc("2026-02-01T15:00:00Z")) {
		t.Errorf("hook for %v, want 15:00 (skipped ticks run no hook)", got)
	}
	select {
	case got := <-calls:
		t.Errorf("extra hook call for %v", got)
	default:
	}
}

// TestTracing: each tick is the root span of its own trace, and the event carries
// that span's context; a one-off event's span links to the request that created it.
func TestTracing(t *testing.T) {
	t.Parallel()
	log := openLog(t, t.TempDir())
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	clk := newFakeClock(utc("2026-02-01T09:59:00Z"))
	s := start(t, log, Config{Clock: clk, TracerProvider: tp, Schedules: []Schedule{{Name: "hourly", Cron: "0 * * * *"}}})

	reqCtx, reqSpan := tp.Tracer("test").Start(t.Context(), "POST /v1/scheduled-events")
	created, err := s.CreateScheduledEvent(reqCtx, &adminv1.CreateScheduledEventRequest{Name: "reminder", ScheduledTime: tsOf(utc("2026-02-01T10:00:00Z"))})
	reqSpan.End()
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, clk.Now(), s)
	settle(t, clk, utc("2026-02-01T10:00:00Z"), s)
	tick := waitEvents(t, log, SourceCron, 1)[0]
	one := waitEvents(t, log, SourceScheduled, 1)[0]
	if one.GetId() != created.GetScheduledEvent().GetId() {
		t.Fatalf("one-off event id %s, created %s", one.GetId(), created.GetScheduledEvent().GetId())
	}
	spans := map[string]sdktrace.ReadOnlySpan{}
	for _, sp := range rec.Ended() {
		spans[sp.Name()] = sp
	}
	tickSpan, ok := spans["schedule tick cron.hourly"]
	if !ok {
		t.Fatalf("no tick span among %v", spans)
	}
	if tickSpan.Parent().IsValid() {
		t.Error("the tick span has a parent; want a new trace per tick")
	}
	if want := tickSpan.SpanContext().TraceID().String(); !strings.Contains(tick.GetTraceparent(), want) {
		t.Errorf("tick traceparent %q, want trace %s", tick.GetTraceparent(), want)
	}
	oneSpan, ok := spans["scheduled event scheduled.reminder"]
	if !ok {
		t.Fatalf("no one-off span among %v", spans)
	}
	if !strings.Contains(one.GetTraceparent(), oneSpan.SpanContext().TraceID().String()) {
		t.Errorf("one-off traceparent %q, want trace %s", one.GetTraceparent(), oneSpan.SpanContext().TraceID())
	}
	if l := oneSpan.Links(); len(l) != 1 || l[0].SpanContext.TraceID() != reqSpan.SpanContext().TraceID() {
		t.Errorf("one-off span links %v, want the creating request's span", l)
	}
}

// TestShutdownFinishesClaim: stopping while a tick is being appended completes it
// (the append and the state update) instead of leaving a claim for the lease to expire.
func TestShutdownFinishesClaim(t *testing.T) {
	t.Parallel()
	log := openLog(t, t.TempDir())
	clk := newFakeClock(utc("2026-05-04T06:59:30Z"))
	slow := &countingLog{log: log}
	block := make(chan struct{})
	slow.block.Store(&block)
	s := start(t, log, Config{Log: slow, Clock: clk, Schedules: []Schedule{{Name: "hourly", Cron: "0 * * * *"}}, Timeout: time.Minute})
	var release sync.Once
	t.Cleanup(func() { release.Do(func() { close(block) }) })
	waitIdle(t, clk.Now(), s)
	clk.Set(utc("2026-05-04T07:00:00Z"))
	eventually.True(t, 20*time.Second, "the append to start", func() bool { return slow.calls.Load() == 1 })
	stopped := make(chan struct{})
	go func() {
		s.stop()
		close(stopped)
	}()
	time.Sleep(20 * time.Millisecond) // let the stop reach Run; it must wait for the append
	release.Do(func() { close(block) })
	<-stopped
	waitEvents(t, log, SourceCron, 1)
	e, err := s.kv.Get(t.Context(), cronKey("hourly"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := decodeCron(&entry{value: e.Value()})
	if err != nil {
		t.Fatal(err)
	}
	if st.Inflight != nil || !st.LastEmitted.Equal(utc("2026-05-04T07:00:00Z")) {
		t.Errorf("state after shutdown %+v, want the tick completed and no claim", st)
	}
}
