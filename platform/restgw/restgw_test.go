package restgw_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hookmesh/hookmesh/platform/grpcserver"
	"github.com/hookmesh/hookmesh/platform/grpcserver/grpcservertest"
	"github.com/hookmesh/hookmesh/platform/restgw"
)

// admin is an in-test AdminService: two events, NotFound otherwise.
type admin struct {
	adminv1.UnimplementedAdminServiceServer
}

var events = []*eventv1.Event{
	{Id: "evt_1", Source: "stripe", Type: "stripe.charge.succeeded"},
	{Id: "evt_2", Source: "github", Type: "github.push"},
}

func (admin) ListEvents(_ context.Context, req *adminv1.ListEventsRequest) (*adminv1.ListEventsResponse, error) {
	resp := &adminv1.ListEventsResponse{}
	for _, ev := range events {
		if req.GetSource() == "" || req.GetSource() == ev.GetSource() {
			resp.Events = append(resp.Events, ev)
		}
	}
	return resp, nil
}

// ListScheduledEvents answers with one event in the requested state, so a test
// sees how the query parameter was read.
func (admin) ListScheduledEvents(_ context.Context, req *adminv1.ListScheduledEventsRequest) (*adminv1.ListScheduledEventsResponse, error) {
	return &adminv1.ListScheduledEventsResponse{ScheduledEvents: []*adminv1.ScheduledEvent{{Name: "x", State: req.State}}}, nil
}

func (admin) GetEvent(_ context.Context, req *adminv1.GetEventRequest) (*adminv1.GetEventResponse, error) {
	for _, ev := range events {
		if ev.GetId() == req.GetId() {
			return &adminv1.GetEventResponse{Event: ev}, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "event %s not found", req.GetId())
}

func (admin) PauseSubscription(context.Context, *adminv1.PauseSubscriptionRequest) (*adminv1.PauseSubscriptionResponse, error) {
	st, _ := status.New(codes.Unavailable, "log unavailable").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(2500 * time.Millisecond)})
	return nil, st.Err()
}

const token = "s3cret-token"

type server struct {
	url string
	exp *tracetest.InMemoryExporter
}

func start(t *testing.T, adminToken string) server {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.WithoutCancel(t.Context())) }) // t.Context is cancelled by now
	conn := grpcservertest.MustStartWith(t, grpcserver.Config{
		TracerProvider: tp,
		Propagators:    propagation.TraceContext{},
		Logger:         slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}, func(s *grpc.Server) { adminv1.RegisterAdminServiceServer(s, admin{}) })
	h, err := restgw.New(restgw.Config{
		Conn:       conn,
		Register:   []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{adminv1.RegisterAdminServiceHandler},
		AdminToken: adminToken,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return server{url: srv.URL, exp: exp}
}

type response struct {
	status int
	header http.Header
	body   map[string]any
}

func do(t *testing.T, method, url, auth, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	out := response{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(raw, &out.body); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %q", method, url, raw)
	}
	return out
}

func errorCode(r response) string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestREST(t *testing.T) {
	s := start(t, token)
	bearer := "Bearer " + token
	tests := []struct {
		name       string
		method     string
		path       string
		auth       string
		body       string
		wantStatus int
		wantCode   string // error.code; "" for success
		check      func(t *testing.T, r response)
	}{
		{name: "list not shadowed by {id}", method: "GET", path: "/v1/events", auth: bearer, wantStatus: 200,
			check: func(t *testing.T, r response) {
				if evs, _ := r.body["events"].([]any); len(evs) != 2 {
					t.Errorf("events = %v, want both (ListEvents, not GetEvent)", r.body)
				}
				if _, ok := r.body["next_page_token"]; !ok {
					t.Errorf("body %v lacks next_page_token (proto names, unpopulated fields included)", r.body)
				}
			}},
		{name: "query filter", method: "GET", path: "/v1/events?source=github", auth: bearer, wantStatus: 200,
			check: func(t *testing.T, r response) {
				evs, _ := r.body["events"].([]any)
				if len(evs) != 1 || evs[0].(map[string]any)["id"] != "evt_2" {
					t.Errorf("events = %v, want only evt_2", evs)
				}
			}},
		{name: "get one", method: "GET", path: "/v1/events/evt_1", auth: bearer, wantStatus: 200,
			check: func(t *testing.T, r response) {
				if ev, _ := r.body["event"].(map[string]any); ev["id"] != "evt_1" {
					t.Errorf("event = %v, want evt_1", r.body)
				}
			}},
		{name: "not found", method: "GET", path: "/v1/events/evt_404", auth: bearer, wantStatus: 404, wantCode: "not_found",
			check: func(t *testing.T, r response) {
				if msg := r.body["error"].(map[string]any)["message"]; msg != "event evt_404 not found" {
					t.Errorf("message = %v", msg)
				}
			}},
		{name: "unimplemented", method: "GET", path: "/v1/replays/r1", auth: bearer, wantStatus: 501, wantCode: "unimplemented"},
		{name: "retry info", method: "POST", path: "/v1/subscriptions/orders:pause", auth: bearer, body: "{}", wantStatus: 503, wantCode: "unavailable",
			check: func(t *testing.T, r response) {
				if got := r.header.Get("Retry-After"); got != "3" {
					t.Errorf("Retry-After = %q, want 3 (2.5s rounded up)", got)
				}
			}},
		{name: "malformed body", method: "POST", path: "/v1/replays", auth: bearer, body: "{", wantStatus: 400, wantCode: "invalid_argument"},
		{name: "unknown body field", method: "POST", path: "/v1/replays", auth: bearer, body: `{"bogus": 1}`, wantStatus: 400, wantCode: "invalid_argument"},
		{name: "no route", method: "GET", path: "/v1/nothing", auth: bearer, wantStatus: 404, wantCode: "not_found"},
		{name: "wrong method", method: "DELETE", path: "/v1/events", auth: bearer, wantStatus: 405, wantCode: "method_not_allowed"},
		{name: "no token", method: "GET", path: "/v1/events", wantStatus: 401, wantCode: "unauthenticated",
			check: func(t *testing.T, r response) {
				if r.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			}},
		{name: "wrong token", method: "GET", path: "/v1/events", auth: "Bearer nope", wantStatus: 401, wantCode: "unauthenticated"},
		{name: "token prefix", method: "GET", path: "/v1/events", auth: "Bearer " + token[:5], wantStatus: 401, wantCode: "unauthenticated"},
		{name: "basic scheme", method: "GET", path: "/v1/events", auth: "Basic " + token, wantStatus: 401, wantCode: "unauthenticated"},
		{name: "no route needs token too", method: "GET", path: "/v1/nothing", wantStatus: 401, wantCode: "unauthenticated"},
		{name: "scheme case-insensitive", method: "GET", path: "/v1/events", auth: "bearer " + token, wantStatus: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.method, s.url+tc.path, tc.auth, tc.body)
			if r.status != tc.wantStatus {
				t.Errorf("status = %d, want %d (body %v)", r.status, tc.wantStatus, r.body)
			}
			if got := errorCode(r); got != tc.wantCode {
				t.Errorf("error.code = %q, want %q (body %v)", got, tc.wantCode, r.body)
			}
			if tc.wantCode != "" {
				if ct := r.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q", ct)
				}
				if len(r.body) != 1 {
					t.Errorf("error body %v has keys besides \"error\"", r.body)
				}
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

// TestRESTGoesThroughGRPC checks that REST calls are real gRPC calls: the
// server's otelgrpc handler records them as server spans.
func TestRESTGoesThroughGRPC(t *testing.T) {
	s := start(t, "")
	if r := do(t, "GET", s.url+"/v1/events/evt_1", "", ""); r.status != 200 {
		t.Fatalf("status %d without a configured token, want 200", r.status)
	}
	const want = "hookmesh.admin.v1.AdminService/GetEvent"
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, sp := range s.exp.GetSpans() {
			if sp.Name == want && sp.SpanKind.String() == "server" {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("no gRPC server span %q for a REST call; spans: %d", want, len(s.exp.GetSpans()))
}

func TestNewErrors(t *testing.T) {
	conn := grpcservertest.MustStart(t, nil)
	failing := func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error { return io.ErrUnexpectedEOF }
	tests := []struct {
		name    string
		cfg     restgw.Config
		wantErr string
	}{
		{"no conn", restgw.Config{Register: []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{adminv1.RegisterAdminServiceHandler}}, "Conn is required"},
		{"no register", restgw.Config{Conn: conn}, "Register"},
		{"nil register", restgw.Config{Conn: conn, Register: []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{nil}}, "Register[0] is nil"},
		{"register fails", restgw.Config{Conn: conn, Register: []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{failing}}, "register service 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := restgw.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("New = %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestCodeName(t *testing.T) {
	tests := map[codes.Code]string{
		codes.NotFound: "not_found", codes.Canceled: "cancelled", codes.FailedPrecondition: "failed_precondition",
		codes.Unauthenticated: "unauthenticated", codes.Code(99): "unknown",
	}
	for c, want := range tests {
		if got := restgw.CodeName(c); got != want {
			t.Errorf("CodeName(%v) = %q, want %q", c, got, want)
		}
	}
}

// Enum query parameters take the full name, the number, or the name without the
// type's prefix in any case; anything else is a 400 as before.
func TestEnumQueryParameters(t *testing.T) {
	srv := start(t, "")
	for _, q := range []string{"fired", "FIRED", "Fired", "SCHEDULED_EVENT_STATE_FIRED", "2"} {
		r := do(t, http.MethodGet, srv.url+"/v1/scheduled-events?state="+q, "", "")
		if r.status != http.StatusOK {
			t.Errorf("state=%s: status %d %v", q, r.status, r.body)
			continue
		}
		got := r.body["scheduled_events"].([]any)[0].(map[string]any)["state"]
		if got != "SCHEDULED_EVENT_STATE_FIRED" {
			t.Errorf("state=%s read as %v", q, got)
		}
	}
	for _, q := range []string{"burnt", "scheduled_event_state", "99x"} {
		if r := do(t, http.MethodGet, srv.url+"/v1/scheduled-events?state="+q, "", ""); r.status != http.StatusBadRequest {
			t.Errorf("state=%s: status %d, want 400", q, r.status)
		}
	}
}
