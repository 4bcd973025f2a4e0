package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	analyticsv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/analytics/v1"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	emailv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/email/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/consumertest"
	"github.com/hookmesh/hookmesh/platform/grpcserver"
	"github.com/hookmesh/hookmesh/platform/sqlstore/sqlstoretest"
	"github.com/hookmesh/hookmesh/services/email/app"
	"github.com/hookmesh/hookmesh/services/email/internal/smtp/smtptest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var quiet = slog.New(slog.NewJSONHandler(io.Discard, nil))

type dialect struct {
	name string
	// config adds the dialect's database settings.
	config func(t *testing.T, cfg *app.Config)
}

var dialects = []dialect{
	{"sqlite", func(*testing.T, *app.Config) {}},
	{"postgres", func(t *testing.T, cfg *app.Config) {
		u := sqlstoretest.PostgresURL(t)
		schema := sqlstoretest.NewSchemaName(t)
		t.Cleanup(func() { sqlstoretest.DropSchema(t, u, schema) })
		cfg.DatabaseURL, cfg.DatabaseSchema = u, schema
	}},
}

// mesh is one email service over real gRPC, talking SMTP to a test server.
type mesh struct {
	svc    *app.Service
	smtp   *smtptest.Server
	conn   *grpc.ClientConn
	client consumerv1.EventConsumerServiceClient
	api    emailv1.EmailServiceClient
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
}

func start(t *testing.T, d dialect, edit func(*app.Config, *app.Deps)) *mesh {
	t.Helper()
	m := &mesh{smtp: smtptest.Start(t, smtptest.Config{}), spans: tracetest.NewSpanRecorder()}
	cfg := app.Config{
		From:             "Shop <noreply@shop.example>",
		TokenSecret:      "test-secret-0123456789",
		ReportRecipients: []string{"ops@shop.example"},
		SMTPURL:          "smtp://" + m.smtp.Addr + "?starttls=off&timeout=5s",
		DataDir:          t.TempDir(),
		GRPCAddr:         "127.0.0.1:0",
		PublicURL:        "http://127.0.0.1:8090",
		SendLease:        10 * time.Second,
	}
	d.config(t, &cfg)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(m.spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	m.tp = tp
	deps := app.Deps{TracerProvider: tp, Propagators: propagation.TraceContext{}, Logger: quiet}
	if edit != nil {
		edit(&cfg, &deps)
	}
	svc, err := app.New(context.Background(), cfg, deps)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	m.svc = svc
	m.conn = grpcserver.MustStartWith(t, grpcserver.Config{TracerProvider: tp, Propagators: propagation.TraceContext{}, Logger: quiet}, svc.Register)
	m.client = consumerv1.NewEventConsumerServiceClient(m.conn)
	m.api = emailv1.NewEmailServiceClient(m.conn)
	return m
}

func userInsert(id, addr string) *eventv1.Event {
	row, _ := structpb.NewStruct(map[string]any{"id": id, "email": addr, "name": "User " + id})
	return &eventv1.Event{Id: id, Source: "hasura", Type: "hasura.public.users.insert", Subject: "public.users/" + id,
		Payload: &eventv1.Event_HasuraTable{HasuraTable: &eventv1.HasuraTableEvent{
			Op: eventv1.HasuraOperation_HASURA_OPERATION_INSERT, Schema: "public", Table: "users", New: row}}}
}

// sentFor counts the messages the SMTP server received for an event.
func (m *mesh) sentFor(ev *eventv1.Event) int {
	n := 0
	for _, msg := range m.smtp.Messages() {
		parsed, err := mail.ReadMessage(bytes.NewReader(msg.Data))
		if err == nil && parsed.Header.Get("X-Hookmesh-Event") == ev.GetSource()+"/"+ev.GetId() {
			n++
		}
	}
	return n
}

func TestConformance(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			m := start(t, d, nil)
			consumertest.Run(t, consumertest.Config{
				Client:   m.client,
				NewEvent: func(id string) *eventv1.Event { return userInsert(id, id+"@example.com") },
				// A new user without an address: no usable address, dead letter.
				Invalid: userInsert("no-address", ""),
				// An order confirmation for a customer not heard of yet: retried.
				Retryable: func(id string) *eventv1.Event {
					data, _ := structpb.NewValue(map[string]any{"order_id": id, "customer_id": 99999.0, "tracking_number": "TRK-1",
						"items": []any{map[string]any{"sku": "MUG", "quantity": 1.0, "price": "12.50"}}, "total": "12.50"})
					return &eventv1.Event{Id: id, Source: "orders", Type: "orders.shipment.created", Subject: "orders/" + id,
						Payload: &eventv1.Event_Fact{Fact: &eventv1.ServiceFact{Service: "orders", Data: data}}}
				},
				Effects: func(_ testing.TB, ev *eventv1.Event) int { return m.sentFor(ev) },
			})
		})
	}
}

func TestDeliverCodes(t *testing.T) {
	report := func(id string) *eventv1.Event {
		return &eventv1.Event{Id: id, Source: "cron", Type: "cron.daily-report", Payload: &eventv1.Event_Scheduled{Scheduled: &eventv1.ScheduledEvent{
			Kind: eventv1.ScheduledKind_SCHEDULED_KIND_CRON, Name: "daily-report", ScheduledTime: timestamppb.New(time.Date(2024, 3, 5, 9, 0, 0, 0, time.UTC))}}}
	}
	for _, tc := range []struct {
		name      string
		edit      func(*app.Config, *app.Deps)
		inject    func(*smtptest.Server)
		ev        *eventv1.Event
		want      codes.Code
		wantRetry bool
	}{
		{name: "welcome", ev: userInsert("c-1", "a@example.com"), want: codes.OK},
		{name: "no usable address", ev: userInsert("c-2", "not-an-address"), want: codes.InvalidArgument},
		{name: "other type", ev: &eventv1.Event{Id: "x", Source: "github", Type: "github.push"}, want: codes.OK},
		{name: "smtp 4xx", inject: func(s *smtptest.Server) { s.Fail(smtptest.StageMail, 421, "4.3.2 shutting down") },
			ev: userInsert("c-3", "a@example.com"), want: codes.Unavailable, wantRetry: true},
		{name: "smtp 5xx", inject: func(s *smtptest.Server) { s.Fail(smtptest.StageRcpt, 550, "5.1.1 unknown user") },
			ev: userInsert("c-4", "a@example.com"), want: codes.FailedPrecondition},
		{name: "smtp connection dropped", inject: func(s *smtptest.Server) { s.Drop(smtptest.StageEHLO) },
			ev: userInsert("c-5", "a@example.com"), want: codes.Unavailable, wantRetry: true},
		{name: "report without analytics", ev: report("r-1"), want: codes.FailedPrecondition},
		{name: "report without recipients", edit: func(c *app.Config, d *app.Deps) {
			c.ReportRecipients = nil
			d.Analytics = analyticsClient(t, nil)
		}, ev: report("r-2"), want: codes.FailedPrecondition},
		{name: "report", edit: func(_ *app.Config, d *app.Deps) { d.Analytics = analyticsClient(t, nil) }, ev: report("r-3"), want: codes.OK},
		{name: "report, analytics unavailable", edit: func(_ *app.Config, d *app.Deps) {
			d.Analytics = analyticsClient(t, status.Error(codes.Unavailable, "starting"))
		}, ev: report("r-4"), want: codes.Unavailable, wantRetry: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := start(t, dialects[0], tc.edit)
			if tc.inject != nil {
				tc.inject(m.smtp)
			}
			_, err := m.client.Deliver(context.Background(), &consumerv1.DeliverRequest{Event: tc.ev, Subscription: "email", Attempt: 1})
			if status.Code(err) != tc.want {
				t.Fatalf("Deliver = %v, want %v", err, tc.want)
			}
			hasRetry := false
			for _, d := range status.Convert(err).Details() {
				if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay().AsDuration() > 0 {
					hasRetry = true
				}
			}
			if hasRetry != tc.wantRetry {
				t.Errorf("RetryInfo present = %v, want %v", hasRetry, tc.wantRetry)
			}
			if tc.want == codes.OK && tc.ev.GetType() != "github.push" && m.sentFor(tc.ev) != 1 {
				t.Errorf("sent %d messages", m.sentFor(tc.ev))
			}
			if tc.name == "welcome" {
				_, err := m.client.Deliver(context.Background(), &consumerv1.DeliverRequest{Event: tc.ev, Subscription: "email", Attempt: 2})
				if status.Code(err) != codes.AlreadyExists {
					t.Errorf("redelivery = %v, want ALREADY_EXISTS", err)
				}
			}
		})
	}
}

// TestDeliverResolvesCustomer: over gRPC, an order confirmation for a customer
// the service has not heard of is UNAVAILABLE with RetryInfo, and is sent once
// the customer's users insert has arrived.
func TestDeliverResolvesCustomer(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			m := start(t, d, nil)
			ctx := context.Background()
			data, _ := structpb.NewValue(map[string]any{"order_id": "9001", "customer_id": 7.0, "tracking_number": "TRK-1",
				"items": []any{map[string]any{"sku": "MUG", "quantity": 2.0, "price": "12.50"}}, "total": "25.00"})
			fact := &eventv1.Event{Id: "shipment-9001", Source: "orders", Type: "orders.shipment.created", Subject: "orders/9001",
				Payload: &eventv1.Event_Fact{Fact: &eventv1.ServiceFact{Service: "orders", Data: data}}}
			deliver := func(ev *eventv1.Event, attempt int32) error {
				_, err := m.client.Deliver(ctx, &consumerv1.DeliverRequest{Event: ev, Subscription: "email", Attempt: attempt})
				return err
			}

			err := deliver(fact, 1)
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("before the users insert: %v, want UNAVAILABLE", err)
			}
			var delay time.Duration
			for _, det := range status.Convert(err).Details() {
				if ri, ok := det.(*errdetails.RetryInfo); ok {
					delay = ri.GetRetryDelay().AsDuration()
				}
			}
			if delay <= 0 {
				t.Fatalf("no RetryInfo delay in %v", status.Convert(err).Details())
			}

			if err := deliver(userInsert("7", "grace@example.com"), 1); err != nil {
				t.Fatalf("users insert: %v", err)
			}
			if err := deliver(fact, 2); err != nil {
				t.Fatalf("after the users insert: %v", err)
			}
			if err := deliver(fact, 3); status.Code(err) != codes.AlreadyExists {
				t.Fatalf("redelivery = %v, want ALREADY_EXISTS", err)
			}
			if n := m.sentFor(fact); n != 1 {
				t.Fatalf("%d confirmations sent, want 1", n)
			}
			list, err := m.api.ListMessages(ctx, &emailv1.ListMessagesRequest{EventId: "shipment-9001"})
			if err != nil || len(list.GetMessages()) != 1 || list.GetMessages()[0].GetKind() != emailv1.MessageKind_MESSAGE_KIND_ORDER_CONFIRMATION ||
				strings.Join(list.GetMessages()[0].GetTo(), ",") != "grace@example.com" {
				t.Fatalf("ListMessages = %v, %v", list, err)
			}

			// A users update that keeps the address changes only the directory:
			// OK once, then ALREADY_EXISTS, and no message.
			oldRow, _ := structpb.NewStruct(map[string]any{"id": "7", "email": "grace@example.com", "name": "Grace"})
			newRow, _ := structpb.NewStruct(map[string]any{"id": "7", "email": "grace@example.com", "name": "Grace Hopper"})
			rename := &eventv1.Event{Id: "u-7-name", Source: "hasura", Type: "hasura.public.users.update",
				Payload: &eventv1.Event_HasuraTable{HasuraTable: &eventv1.HasuraTableEvent{
					Op: eventv1.HasuraOperation_HASURA_OPERATION_UPDATE, Old: oldRow, New: newRow}}}
			if err := deliver(rename, 1); err != nil {
				t.Fatalf("name-only update: %v", err)
			}
			if err := deliver(rename, 2); status.Code(err) != codes.AlreadyExists {
				t.Fatalf("name-only update again = %v, want ALREADY_EXISTS", err)
			}
			if n := m.sentFor(rename); n != 0 {
				t.Fatalf("name-only update sent %d messages", n)
			}

			// Neither address nor customer_id: a dead letter at once.
			bare, _ := structpb.NewValue(map[string]any{"order_id": "9002"})
			err = deliver(&eventv1.Event{Id: "shipment-9002", Source: "orders", Type: "orders.shipment.created",
				Payload: &eventv1.Event_Fact{Fact: &eventv1.ServiceFact{Service: "orders", Data: bare}}}, 1)
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("fact without address or customer_id = %v, want INVALID_ARGUMENT", err)
			}
		})
	}
}

// analyticsServer answers GetReport with fixed figures or an error.
type analyticsServer struct {
	analyticsv1.UnimplementedAnalyticsServiceServer
	err error
}

func (a analyticsServer) GetReport(_ context.Context, req *analyticsv1.GetReportRequest) (*analyticsv1.GetReportResponse, error) {
	if a.err != nil {
		return nil, a.err
	}
	return &analyticsv1.GetReportResponse{Report: &analyticsv1.Report{NewUsers: 4, PeriodStart: req.GetPeriodStart(), PeriodEnd: req.GetPeriodEnd()}}, nil
}

func analyticsClient(t *testing.T, err error) analyticsv1.AnalyticsServiceClient {
	conn := grpcserver.MustStartWith(t, grpcserver.Config{Logger: quiet}, func(s *grpc.Server) {
		analyticsv1.RegisterAnalyticsServiceServer(s, analyticsServer{err: err})
	})
	return analyticsv1.NewAnalyticsServiceClient(conn)
}

// TestTraceContinues: the delivery span and the message row carry the trace of
// the caller, or of the event when the call itself carries none.
func TestTraceContinues(t *testing.T) {
	m := start(t, dialects[0], nil)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	ev := userInsert("t-1", "a@example.com")
	ev.Traceparent = "00-" + traceID + "-00f067aa0ba902b7-01"
	// A client without trace propagation: only the event carries the context.
	plain, err := grpc.NewClient(m.conn.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := consumerv1.NewEventConsumerServiceClient(plain).Deliver(context.Background(), &consumerv1.DeliverRequest{Event: ev}); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range m.spans.Ended() {
		if s.Name() == "process" { // the delivery's span (no subscription named)
			found = true
			if got := s.SpanContext().TraceID().String(); got != traceID {
				t.Errorf("process span trace %s, want %s", got, traceID)
			}
			for _, kv := range s.Attributes() {
				if strings.Contains(kv.Value.Emit(), "@") {
					t.Errorf("span attribute %s holds an address", kv.Key)
				}
			}
		}
	}
	if !found {
		t.Fatal("no process span")
	}
	list, err := m.api.ListMessages(context.Background(), &emailv1.ListMessagesRequest{EventId: "t-1"})
	if err != nil || len(list.GetMessages()) != 1 || list.GetMessages()[0].GetTraceId() != traceID {
		t.Fatalf("ListMessages = %v, %v; want one message in trace %s", list, err, traceID)
	}

	// A traced call (the dispatcher's attempt span) wins over the stored context.
	ev2 := userInsert("t-2", "b@example.com")
	ev2.Traceparent = ev.Traceparent
	ctx, span := m.tp.Tracer("test").Start(context.Background(), "dispatch.attempt")
	if _, err := m.client.Deliver(ctx, &consumerv1.DeliverRequest{Event: ev2}); err != nil {
		t.Fatal(err)
	}
	span.End()
	want := span.SpanContext().TraceID().String()
	list, err = m.api.ListMessages(context.Background(), &emailv1.ListMessagesRequest{EventId: "t-2"})
	if err != nil || len(list.GetMessages()) != 1 || list.GetMessages()[0].GetTraceId() != want {
		t.Fatalf("ListMessages = %v, %v; want one message in the caller's trace %s", list, err, want)
	}
}

// TestREST drives the read API through grpc-gateway over real HTTP: list,
// get, verify (a link from a real verification email), and error bodies.
func TestREST(t *testing.T) {
	m := start(t, dialects[0], nil)
	mux := runtime.NewServeMux()
	if err := m.svc.RegisterGateway(context.Background(), mux, m.conn); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()

	row := func(addr string) *structpb.Struct {
		s, _ := structpb.NewStruct(map[string]any{"id": 9.0, "email": addr, "name": "Nine"})
		return s
	}
	update := &eventv1.Event{Id: "u-9", Source: "hasura", Type: "hasura.public.users.update",
		Payload: &eventv1.Event_HasuraTable{HasuraTable: &eventv1.HasuraTableEvent{
			Op: eventv1.HasuraOperation_HASURA_OPERATION_UPDATE, Old: row("old@example.com"), New: row("new@example.com")}}}
	for _, ev := range []*eventv1.Event{userInsert("u-8", "eight@example.com"), update} {
		if _, err := m.client.Deliver(context.Background(), &consumerv1.DeliverRequest{Event: ev}); err != nil {
			t.Fatal(err)
		}
	}

	get := func(path string, want int, out any) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("GET %s = %d %s, want %d", path, resp.StatusCode, body, want)
		}
		if out != nil {
			if err := json.Unmarshal(body, out); err != nil {
				t.Fatalf("GET %s: %v: %s", path, err, body)
			}
		}
	}

	var list struct {
		Messages []struct {
			ID, Status, Kind, EventID string
			To                        []string
		}
		NextPageToken string
	}
	get("/v1/email/messages?status=MESSAGE_STATUS_SENT&to=NEW@example.com", 200, &list)
	if len(list.Messages) != 1 || list.Messages[0].Kind != "MESSAGE_KIND_VERIFY_EMAIL" || list.Messages[0].EventID != "u-9" {
		t.Fatalf("list = %+v", list)
	}
	get("/v1/email/messages?pageSize=1", 200, &list)
	if len(list.Messages) != 1 || list.NextPageToken == "" {
		t.Fatalf("page 1 = %+v", list)
	}
	get("/v1/email/messages?pageSize=1&pageToken="+url.QueryEscape(list.NextPageToken), 200, &list)
	if len(list.Messages) != 1 || list.NextPageToken != "" {
		t.Fatalf("page 2 = %+v", list)
	}

	var one struct {
		Message struct{ ID, MessageID, Status, TraceID, Subject string }
	}
	get("/v1/email/messages/"+list.Messages[0].ID, 200, &one)
	if one.Message.Status != "MESSAGE_STATUS_SENT" || one.Message.MessageID == "" {
		t.Fatalf("get = %+v", one)
	}
	get("/v1/email/messages/nope", 404, nil)
	get("/v1/email/messages?pageToken=%21%21", 400, nil)

	// The verification link from the email that was actually sent.
	var link string
	for _, msg := range m.smtp.Messages() {
		if msg.To[0] == "new@example.com" {
			link = regexp.MustCompile(`http://\S+/v1/email/verify\?token=\S+`).FindString(textPart(t, msg.Data))
		}
	}
	u, err := url.Parse(link)
	token := u.Query().Get("token")
	if err != nil || token == "" {
		t.Fatalf("no token in the verification email (%v)", err)
	}
	// Issue 17: the link opens a page with a button; its POST confirms.
	page := httptest.NewServer(app.VerifyPage(mux))
	defer page.Close()
	resp, err := http.Get(page.URL + "/v1/email/verify?token=" + url.QueryEscape(token))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `method="post"`) || !strings.Contains(string(body), `name="token"`) {
		t.Fatalf("GET the link: %d %s", resp.StatusCode, body)
	}
	resp, err = http.PostForm(page.URL+"/v1/email/verify", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Address confirmed") {
		t.Fatalf("POST the button: %d %s", resp.StatusCode, body)
	}
	// The REST API itself: POST with the token in the body (the OpenAPI contract).
	post := func(body string, want int, out any) {
		t.Helper()
		resp, err := http.Post(srv.URL+"/v1/email/verify", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("POST verify %s = %d %s, want %d", body, resp.StatusCode, b, want)
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("POST verify: %v: %s", err, b)
			}
		}
	}
	tokenJSON := func(tok string) string { b, _ := json.Marshal(map[string]string{"token": tok}); return string(b) }
	var verified struct{ UserID, Email, VerifyTime string }
	post(tokenJSON(token), 200, &verified)
	if verified.UserID != "9" || verified.Email != "new@example.com" || verified.VerifyTime == "" {
		t.Fatalf("verify = %+v", verified)
	}
	post(tokenJSON(token+"x"), 400, nil)
	post(`{}`, 400, nil)
	// GET on the API is not a verification (the page's GET changes nothing either).
	resp, err = http.Get(srv.URL + "/v1/email/verify?token=" + url.QueryEscape(token))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Fatalf("GET on the REST API verified: %d", resp.StatusCode)
	}
}

func TestAPIErrors(t *testing.T) {
	m := start(t, dialects[0], nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"get without id", func() error { _, err := m.api.GetMessage(ctx, &emailv1.GetMessageRequest{}); return err }, codes.InvalidArgument},
		{"get unknown", func() error { _, err := m.api.GetMessage(ctx, &emailv1.GetMessageRequest{Id: "x"}); return err }, codes.NotFound},
		{"list, bad status", func() error {
			_, err := m.api.ListMessages(ctx, &emailv1.ListMessagesRequest{Status: 42})
			return err
		}, codes.InvalidArgument},
		{"list, negative page size", func() error {
			_, err := m.api.ListMessages(ctx, &emailv1.ListMessagesRequest{PageSize: -1})
			return err
		}, codes.InvalidArgument},
		{"list, until before since", func() error {
			_, err := m.api.ListMessages(ctx, &emailv1.ListMessagesRequest{Since: timestamppb.Now(), Until: timestamppb.New(time.Unix(0, 0))})
			return err
		}, codes.InvalidArgument},
		{"verify without token", func() error { _, err := m.api.VerifyEmail(ctx, &emailv1.VerifyEmailRequest{}); return err }, codes.InvalidArgument},
		{"verify garbage", func() error {
			_, err := m.api.VerifyEmail(ctx, &emailv1.VerifyEmailRequest{Token: "v1.a.b"})
			return err
		}, codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); status.Code(err) != tc.want {
				t.Fatalf("= %v, want %v", err, tc.want)
			}
		})
	}
}

// TestEmbeddedDefault: without SMTP_URL messages go to the outbox, and without
// EMAIL_TOKEN_SECRET one is generated once into the data dir.
func TestEmbeddedDefault(t *testing.T) {
	dir := t.TempDir()
	cfg := app.Config{DataDir: dir, GRPCAddr: "127.0.0.1:0"}
	svc, err := app.New(context.Background(), cfg, app.Deps{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Transport() != "outbox" {
		t.Fatalf("transport %q", svc.Transport())
	}
	conn := grpcserver.MustStartWith(t, grpcserver.Config{Logger: quiet}, svc.Register)
	ev := userInsert("o-1", "a@example.com")
	if _, err := consumerv1.NewEventConsumerServiceClient(conn).Deliver(context.Background(), &consumerv1.DeliverRequest{Event: ev}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(svc.OutboxDir(), "*.eml"))
	if len(files) != 1 {
		t.Fatalf("outbox holds %v", files)
	}
	raw, _ := os.ReadFile(files[0])
	if msg, err := mail.ReadMessage(bytes.NewReader(raw)); err != nil || msg.Header.Get("To") != `"User o-1" <a@example.com>` {
		t.Fatalf("outbox message: %v", err)
	}
	secret, err := os.ReadFile(filepath.Join(dir, "email-token-secret"))
	if err != nil || len(strings.TrimSpace(string(secret))) != 64 {
		t.Fatalf("token secret: %q, %v", secret, err)
	}
	if info, _ := os.Stat(filepath.Join(dir, "email-token-secret")); info.Mode().Perm() != 0o600 {
		t.Errorf("token secret mode %v", info.Mode().Perm())
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	// A restart keeps the secret (and the database).
	again, err := app.New(context.Background(), cfg, app.Deps{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if secret2, _ := os.ReadFile(filepath.Join(dir, "email-token-secret")); !bytes.Equal(secret, secret2) {
		t.Error("token secret changed on restart")
	}
}

func TestConfigErrors(t *testing.T) {
	base := func() app.Config { return app.Config{DataDir: t.TempDir(), GRPCAddr: "127.0.0.1:0"} }
	for _, tc := range []struct {
		name string
		edit func(*app.Config)
		want string
	}{
		{"bad from", func(c *app.Config) { c.From = "nobody" }, "EMAIL_FROM"},
		{"bad recipient", func(c *app.Config) { c.ReportRecipients = []string{"ops@example.com", "nope"} }, "EMAIL_REPORT_RECIPIENTS"},
		{"bad public url", func(c *app.Config) { c.PublicURL = "ftp://x" }, "EMAIL_PUBLIC_URL"},
		{"bad smtp url", func(c *app.Config) { c.SMTPURL = "http://mail" }, "SMTP_URL"},
		{"bad starttls", func(c *app.Config) { c.SMTPURL = "smtp://mail?starttls=sometimes" }, "SMTP_URL"},
		{"short secret", func(c *app.Config) { c.TokenSecret = "short" }, "EMAIL_TOKEN_SECRET"},
		{"postgres without secret", func(c *app.Config) { c.DatabaseURL = "postgres://db/x" }, "EMAIL_TOKEN_SECRET"},
		{"short lease", func(c *app.Config) { c.SendLease = time.Second }, "EMAIL_SEND_LEASE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.edit(&cfg)
			_, err := app.New(context.Background(), cfg, app.Deps{Logger: quiet})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error naming %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "postgres://db") {
				t.Error("error leaks a configured value")
			}
		})
	}
}

func TestRunRefusesOpenHTTPWithoutToken(t *testing.T) {
	err := app.Run(context.Background(), app.Config{DataDir: t.TempDir(), GRPCAddr: "127.0.0.1:0", HTTPAddr: "0.0.0.0:0"})
	if err == nil || !strings.Contains(err.Error(), "HOOKMESH_ADMIN_TOKEN") {
		t.Fatalf("Run = %v, want an error naming HOOKMESH_ADMIN_TOKEN", err)
	}
}

func TestHealth(t *testing.T) {
	conn := grpcserver.MustStartWith(t, grpcserver.Config{Logger: quiet}, nil)
	if err := app.Health(context.Background(), app.Config{GRPCAddr: conn.Target()}); err != nil {
		t.Fatalf("Health of a serving server: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	if err := app.Health(context.Background(), app.Config{GRPCAddr: addr}); err == nil {
		t.Fatal("Health of nothing succeeded")
	}
}

// textPart decodes the text/plain part of a message.
func textPart(t *testing.T, raw []byte) string {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err != nil {
			t.Fatalf("no text part: %v", err)
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			b, err := io.ReadAll(quotedprintable.NewReader(p))
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := start(t, dialects[0], func(_ *app.Config, d *app.Deps) { d.Registerer = reg })
	m.smtp.Fail(smtptest.StageRcpt, 550, "5.1.1 unknown")
	m.smtp.Fail(smtptest.StageMail, 451, "4.3.0 later")
	for _, id := range []string{"m-1", "m-2", "m-3"} {
		_, _ = m.client.Deliver(context.Background(), &consumerv1.DeliverRequest{Event: userInsert(id, "a@example.com")})
	}
	want := `
# HELP hookmesh_email_send_attempts_total Send attempts by transport and result (sent, rejected: permanent, unavailable: temporary).
# TYPE hookmesh_email_send_attempts_total counter
hookmesh_email_send_attempts_total{result="rejected",transport="smtp"} 1
hookmesh_email_send_attempts_total{result="sent",transport="smtp"} 1
hookmesh_email_send_attempts_total{result="unavailable",transport="smtp"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "hookmesh_email_send_attempts_total"); err != nil {
		t.Error(err)
	}
	// A second service on the same registry is a wiring error, reported.
	if _, err := app.New(context.Background(), app.Config{DataDir: t.TempDir()}, app.Deps{Logger: quiet, Registerer: reg}); err == nil {
		t.Error("duplicate metrics registration accepted")
	}
}
