package scheduler

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/hookmesh/hookmesh/gateway/internal/config"
)

func TestNewInvalidConfig(t *testing.T) {
	t.Parallel()
	log := openLog(t, t.TempDir())
	ok := Schedule{Name: "daily", Cron: "@daily"}
	for _, tc := range []struct {
		name    string
		cfg     Config
		mention string
	}{
		{"no log", Config{JS: log.JetStream()}, "Log is required"},
		{"no jetstream", Config{Log: log}, "JS is required"},
		{"negative poll", Config{Log: log, JS: log.JetStream(), Poll: -time.Second}, "negative"},
		{"negative lease", Config{Log: log, JS: log.JetStream(), Lease: -time.Second}, "negative"},
		{"replicas", Config{Log: log, JS: log.JetStream(), Replicas: 2}, "replicas"},
		{"bucket prefix", Config{Log: log, JS: log.JetStream(), BucketPrefix: "a.b"}, "bucket prefix"},
		{"bad name", Config{Log: log, JS: log.JetStream(), Schedules: []Schedule{{Name: "a.b", Cron: "@daily"}}}, "name"},
		{"empty name", Config{Log: log, JS: log.JetStream(), Schedules: []Schedule{{Cron: "@daily"}}}, "name"},
		{"duplicate", Config{Log: log, JS: log.JetStream(), Schedules: []Schedule{ok, ok}}, "twice"},
		{"bad cron", Config{Log: log, JS: log.JetStream(), Schedules: []Schedule{{Name: "x", Cron: "61 * * * *"}}}, "minute"},
		{"never fires", Config{Log: log, JS: log.JetStream(), Schedules: []Schedule{{Name: "x", Cron: "0 0 30 2 *"}}}, "never fires"},
		{"bad zone", Config{Log: log, JS: log.JetStream(), Schedules: []Schedule{{Name: "x", Cron: "@daily", Timezone: "Mars/Olympus"}}}, "time zone"},
		{"negative tolerance", Config{Log: log, JS: log.JetStream(), Schedules: []Schedule{{Name: "x", Cron: "@daily", Tolerance: -time.Hour}}}, "tolerance"},
		{"payload too large", Config{Log: log, JS: log.JetStream(), Schedules: []Schedule{{Name: "x", Cron: "@daily", Payload: structpb.NewStringValue(strings.Repeat("p", MaxPayloadBytes))}}}, "payload"},
		{"payload not JSON", Config{Log: log, JS: log.JetStream(), Schedules: []Schedule{{Name: "x", Cron: "@daily", Payload: structpb.NewNumberValue(nan())}}}, "payload"},
		{"hook for unknown schedule", Config{Log: log, JS: log.JetStream(), Schedules: []Schedule{ok},
			OnTick: map[string]TickFunc{"health-check": func(context.Context, time.Time) {}}}, "not configured"},
		{"nil hook", Config{Log: log, JS: log.JetStream(), Schedules: []Schedule{ok}, OnTick: map[string]TickFunc{"daily": nil}}, "nil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(t.Context(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("New: %v, want an error mentioning %q", err, tc.mention)
			}
		})
	}
}

func TestNewMetricsTwiceOnOneRegistry(t *testing.T) {
	t.Parallel()
	log := openLog(t, t.TempDir())
	reg := prometheus.NewRegistry()
	cfg := Config{Log: log, JS: log.JetStream(), Registerer: reg, Schedules: []Schedule{{Name: "daily", Cron: "@daily"}}}
	if _, err := New(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := New(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("second New on one registry: %v", err)
	}
	// The skip counter is exported per schedule from the start, at 0.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "hookmesh_schedule_ticks_skipped_total" && len(mf.GetMetric()) == 1 &&
			mf.GetMetric()[0].GetLabel()[0].GetValue() == "daily" {
			found = true
		}
	}
	if !found {
		t.Error("hookmesh_schedule_ticks_skipped_total{schedule=daily} not exported")
	}
}

func TestNewBucketFailure(t *testing.T) {
	t.Parallel()
	log := openLog(t, t.TempDir())
	js := log.JetStream()
	_ = log.Close()
	_, err := New(t.Context(), Config{Log: log, JS: js, Timeout: 500 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "state bucket") {
		t.Errorf("New without a server: %v", err)
	}
}

func TestRunTwice(t *testing.T) {
	t.Parallel()
	log := openLog(t, t.TempDir())
	s := start(t, log, Config{Clock: newFakeClock(utc("2026-01-01T00:00:00Z"))})
	waitIdle(t, utc("2026-01-01T00:00:00Z"), s)
	if err := s.Run(t.Context()); err == nil {
		t.Error("a second Run started")
	}
}

func TestFromConfig(t *testing.T) {
	t.Parallel()
	f, err := config.Demo()
	if err != nil {
		t.Fatal(err)
	}
	got := FromConfig(f.Schedules)
	byName := map[string]Schedule{}
	for _, s := range got {
		byName[s.Name] = s
	}
	for name, cron := range map[string]string{"daily-report": "0 9 * * *", "weekly-report": "0 9 * * 1", "billing": "0 0 1 * *", "health-check": "0 * * * *", "cleanup": "0 2 * * *"} {
		if byName[name].Cron != cron {
			t.Errorf("%s: cron %q, want %q", name, byName[name].Cron, cron)
		}
	}
	if s := byName["billing"]; s.Tolerance != 24*time.Hour || s.Timezone != "UTC" ||
		s.Payload.GetStructValue().GetFields()["task"].GetStringValue() != "monthly_invoices" {
		t.Errorf("billing %+v", s)
	}
	if byName["health-check"].Payload != nil {
		t.Errorf("health-check payload %v, want none", byName["health-check"].Payload)
	}
	// The demo schedules are valid for the scheduler.
	log := openLog(t, t.TempDir())
	if _, err := New(t.Context(), Config{Log: log, JS: log.JetStream(), Schedules: got}); err != nil {
		t.Errorf("New with the demo schedules: %v", err)
	}
}
