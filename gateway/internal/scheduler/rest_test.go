package scheduler

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/hookmesh/hookmesh/gateway/internal/admin"
	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	"github.com/hookmesh/hookmesh/platform/grpcserver/grpcservertest"
	"github.com/hookmesh/hookmesh/platform/restgw"
)

var _ admin.Schedules = (*Scheduler)(nil)

// TestREST drives the scheduled-event routes the way an operator does: REST through
// the admin service (delegating 1:1 to the scheduler) over real gRPC on loopback.
func TestREST(t *testing.T) {
	t.Parallel()
	log := openLog(t, t.TempDir())
	clk := newFakeClock(utc("2026-01-10T10:30:00Z"))
	s := start(t, log, Config{Clock: clk, Schedules: []Schedule{{Name: "hourly", Cron: "0 * * * *", Tolerance: time.Minute}}})
	waitIdle(t, clk.Now(), s)
	settle(t, clk, utc("2026-01-10T11:30:00Z"), s) // 11:00 skipped

	svc, err := admin.New(admin.Config{Events: log, Schedules: s.Scheduler})
	if err != nil {
		t.Fatal(err)
	}
	conn := grpcservertest.MustStart(t, func(g *grpc.Server) { adminv1.RegisterAdminServiceServer(g, svc) })
	h, err := restgw.New(restgw.Config{Conn: conn, Register: []restgw.RegisterFunc{adminv1.RegisterAdminServiceHandler}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
		return resp.StatusCode, out
	}
	errCode := func(body map[string]any) string {
		e, _ := body["error"].(map[string]any)
		c, _ := e["code"].(string)
		return c
	}

	code, body := call("POST", "/v1/scheduled-events", `{"name":"trial-ends","scheduled_time":"2026-01-10T12:00:00Z","payload":{"user":7},"comment":"day 14","tolerance":"600s"}`)
	if code != http.StatusOK {
		t.Fatalf("create: %d %v", code, body)
	}
	ev, _ := body["scheduled_event"].(map[string]any)
	id, _ := ev["id"].(string)
	if ev["state"] != "SCHEDULED_EVENT_STATE_SCHEDULED" || ev["name"] != "trial-ends" || ev["tolerance"] != "600s" || id == "" {
		t.Errorf("created %v", ev)
	}

	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"invalid name", "POST", "/v1/scheduled-events", `{"name":"a b","scheduled_time":"2026-01-10T12:00:00Z"}`, http.StatusBadRequest, "invalid_argument"},
		{"missing time", "POST", "/v1/scheduled-events", `{"name":"x"}`, http.StatusBadRequest, "invalid_argument"},
		{"long past", "POST", "/v1/scheduled-events", `{"name":"x","scheduled_time":"2025-01-01T00:00:00Z"}`, http.StatusBadRequest, "invalid_argument"},
		{"unknown id", "DELETE", "/v1/scheduled-events/0190f5c8-0000-7000-8000-000000000000", "", http.StatusNotFound, "not_found"},
		{"skip record", "DELETE", "/v1/scheduled-events/cron.hourly@2026-01-10T11:00:00Z", "", http.StatusBadRequest, "failed_precondition"},
		{"bad page token", "GET", "/v1/scheduled-events?page_token=!", "", http.StatusBadRequest, "invalid_argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := call(tc.method, tc.path, tc.body)
			if code != tc.status || errCode(body) != tc.code {
				t.Errorf("%d %v, want %d %s", code, body, tc.status, tc.code)
			}
		})
	}

	code, body = call("GET", "/v1/scheduled-events?state=SCHEDULED_EVENT_STATE_SKIPPED", "")
	list, _ := body["scheduled_events"].([]any)
	if code != http.StatusOK || len(list) != 1 || list[0].(map[string]any)["id"] != "cron.hourly@2026-01-10T11:00:00Z" {
		t.Errorf("skipped list: %d %v", code, body)
	}
	code, body = call("DELETE", "/v1/scheduled-events/"+id, "")
	if ev, _ := body["scheduled_event"].(map[string]any); code != http.StatusOK || ev["state"] != "SCHEDULED_EVENT_STATE_CANCELLED" {
		t.Errorf("cancel: %d %v", code, body)
	}
	code, body = call("GET", "/v1/scheduled-events?state=SCHEDULED_EVENT_STATE_CANCELLED", "")
	if list, _ := body["scheduled_events"].([]any); code != http.StatusOK || len(list) != 1 {
		t.Errorf("cancelled list: %d %v", code, body)
	}
}
