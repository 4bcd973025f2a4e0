package hasura

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hookmesh/hookmesh/gateway/internal/webhook"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// et builds an event-trigger body; each case replaces one piece.
func et(op, data, extra string) string {
	if data == "" {
		data = `{"old":null,"new":{"id":7,"email":"a@example.com"}}`
	}
	b := `{"id":"e-1","table":{"schema":"public","name":"users"},"trigger":{"name":"users_all"},` +
		`"event":{"op":"` + op + `","data":` + data + `,"session_variables":{"x-hasura-role":"admin"},"trace_context":null}`
	if extra != "" {
		b += "," + extra
	}
	return b + "}"
}

func TestDecodeContract(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, ev *eventv1.Event)
	}{
		{"insert", et("INSERT", "", ""), func(t *testing.T, ev *eventv1.Event) {
			want(t, ev.GetType(), "hasura.public.users.insert")
			want(t, ev.GetSubject(), "public.users/7")
			h := ev.GetHasuraTable()
			if h.GetOld() != nil || h.GetNew().GetFields()["email"].GetStringValue() != "a@example.com" {
				t.Errorf("rows: old=%v new=%v", h.GetOld(), h.GetNew())
			}
			want(t, h.GetTriggerName(), "users_all")
		}},
		{"update", et("UPDATE", `{"old":{"id":"u-9","name":"a"},"new":{"id":"u-9","name":"b"}}`, ""), func(t *testing.T, ev *eventv1.Event) {
			want(t, ev.GetType(), "hasura.public.users.update")
			want(t, ev.GetSubject(), "public.users/u-9")
			if ev.GetHasuraTable().GetOld().GetFields()["name"].GetStringValue() != "a" {
				t.Error("old row lost")
			}
		}},
		{"update with old null (MSSQL key change)", et("UPDATE", `{"old":null,"new":{"id":3}}`, ""), func(t *testing.T, ev *eventv1.Event) {
			want(t, ev.GetSubject(), "public.users/3")
		}},
		{"delete uses the old row for the subject", et("DELETE", `{"old":{"id":12},"new":null}`, ""), func(t *testing.T, ev *eventv1.Event) {
			want(t, ev.GetType(), "hasura.public.users.delete")
			want(t, ev.GetSubject(), "public.users/12")
			if ev.GetHasuraTable().GetNew() != nil {
				t.Error("new row set for DELETE")
			}
		}},
		{"manual", et("MANUAL", `{"old":null,"new":{"id":1}}`, ""), func(t *testing.T, ev *eventv1.Event) {
			want(t, ev.GetType(), "hasura.public.users.manual")
			if ev.GetHasuraTable().GetOp() != eventv1.HasuraOperation_HASURA_OPERATION_MANUAL {
				t.Error("op")
			}
		}},
		{"payload-column subset without id", et("DELETE", `{"old":{"c2":"world"},"new":null}`, ""), func(t *testing.T, ev *eventv1.Event) {
			want(t, ev.GetSubject(), "public.users")
			if len(ev.GetHasuraTable().GetOld().GetFields()) != 1 {
				t.Error("subset row changed")
			}
		}},
		{"empty payload-column subset", et("UPDATE", `{"old":{},"new":{}}`, ""), func(t *testing.T, ev *eventv1.Event) {
			want(t, ev.GetSubject(), "public.users")
		}},
		{"bigint id keeps every digit", et("INSERT", `{"old":null,"new":{"id":12345678901234567891}}`, ""), func(t *testing.T, ev *eventv1.Event) {
			want(t, ev.GetSubject(), "public.users/12345678901234567891")
		}},
		{"session_variables null", strings.Replace(et("INSERT", "", ""), `{"x-hasura-role":"admin"}`, "null", 1), func(t *testing.T, ev *eventv1.Event) {
			h := ev.GetHasuraTable()
			if !h.GetSessionVariablesNull() || len(h.GetSessionVariables()) != 0 {
				t.Errorf("session variables: null=%v %v", h.GetSessionVariablesNull(), h.GetSessionVariables())
			}
		}},
		{"session_variables empty object is not null", strings.Replace(et("INSERT", "", ""), `{"x-hasura-role":"admin"}`, "{}", 1), func(t *testing.T, ev *eventv1.Event) {
			if ev.GetHasuraTable().GetSessionVariablesNull() {
				t.Error("empty object read as null")
			}
		}},
		{"session variable names lower-cased", strings.Replace(et("INSERT", "", ""), `"x-hasura-role"`, `"X-Hasura-Role"`, 1), func(t *testing.T, ev *eventv1.Event) {
			want(t, ev.GetHasuraTable().GetSessionVariables()["x-hasura-role"], "admin")
		}},
		{"created_at without zone is UTC", et("INSERT", "", `"created_at":"2023-03-01T12:34:56.123456"`), func(t *testing.T, ev *eventv1.Event) {
			wantTime(t, ev, "2023-03-01T12:34:56.123456Z")
		}},
		{"created_at with Z", et("INSERT", "", `"created_at":"2018-09-05T07:14:21.601701Z"`), func(t *testing.T, ev *eventv1.Event) {
			wantTime(t, ev, "2018-09-05T07:14:21.601701Z")
		}},
		{"created_at with offset", et("INSERT", "", `"created_at":"2023-03-01T18:04:56+05:30"`), func(t *testing.T, ev *eventv1.Event) {
			wantTime(t, ev, "2023-03-01T12:34:56Z")
		}},
		{"created_at with short Postgres offset", et("INSERT", "", `"created_at":"2023-03-01T14:34:56.5+02"`), func(t *testing.T, ev *eventv1.Event) {
			wantTime(t, ev, "2023-03-01T12:34:56.5Z")
		}},
		{"created_at with a space separator", et("INSERT", "", `"created_at":"2023-03-01 12:34:56"`), func(t *testing.T, ev *eventv1.Event) {
			wantTime(t, ev, "2023-03-01T12:34:56Z")
		}},
		{"delivery_info", et("INSERT", "", `"delivery_info":{"current_retry":4,"max_retries":9}`), func(t *testing.T, ev *eventv1.Event) {
			di := ev.GetHasuraTable().GetDeliveryInfo()
			if di.GetCurrentRetry() != 4 || di.GetMaxRetries() != 9 {
				t.Errorf("delivery_info %v", di)
			}
		}},
		{"trace_context hex", strings.Replace(et("INSERT", "", ""), `"trace_context":null`,
			`"trace_context":{"trace_id":"4BF92F3577B34DA6A3CE929D0E0E4736","span_id":"00f067aa0ba902b7"}`, 1), func(t *testing.T, ev *eventv1.Event) {
			tc := ev.GetHasuraTable().GetTraceContext()
			want(t, tc.GetTraceId(), "4bf92f3577b34da6a3ce929d0e0e4736")
			want(t, tc.GetSpanId(), "00f067aa0ba902b7")
			want(t, tc.GetSamplingState(), "")
		}},
		{"trace_context with sampling_state", strings.Replace(et("INSERT", "", ""), `"trace_context":null`,
			`"trace_context":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","sampling_state":"0"}`, 1), func(t *testing.T, ev *eventv1.Event) {
			want(t, ev.GetHasuraTable().GetTraceContext().GetSamplingState(), "0")
		}},
		{"trace_context 64-bit hex era is padded", strings.Replace(et("INSERT", "", ""), `"trace_context":null`,
			`"trace_context":{"trace_id":"a3ce929d0e0e4736","span_id":"f067aa0ba902b7"}`, 1), func(t *testing.T, ev *eventv1.Event) {
			want(t, ev.GetHasuraTable().GetTraceContext().GetTraceId(), "0000000000000000a3ce929d0e0e4736")
			want(t, ev.GetHasuraTable().GetTraceContext().GetSpanId(), "00f067aa0ba902b7")
		}},
		{"trace_context numeric (v1.3.3) converted to hex without losing digits", strings.Replace(et("INSERT", "", ""), `"trace_context":null`,
			`"trace_context":{"trace_id":18446744073709551615,"span_id":9007199254740993}`, 1), func(t *testing.T, ev *eventv1.Event) {
			want(t, ev.GetHasuraTable().GetTraceContext().GetTraceId(), "0000000000000000ffffffffffffffff")
			want(t, ev.GetHasuraTable().GetTraceContext().GetSpanId(), "0020000000000001")
		}},
		{"trace_context unreadable is dropped, event kept", strings.Replace(et("INSERT", "", ""), `"trace_context":null`,
			`"trace_context":{"trace_id":"not-hex","span_id":"00f067aa0ba902b7"}`, 1), func(t *testing.T, ev *eventv1.Event) {
			if ev.GetHasuraTable().GetTraceContext() != nil {
				t.Error("invalid trace context kept")
			}
		}},
		{"unknown keys ignored", et("INSERT", "", `"future_field":{"x":[1,2]},"request_transform":null`), func(t *testing.T, ev *eventv1.Event) {
			want(t, ev.GetId(), "e-1")
		}},
		{"cron", `{"id":"c-1","name":"daily-report","scheduled_time":"2024-05-01T09:00:00Z","payload":{"report_type":"daily_summary"},"request_transform":{"version":2}}`, func(t *testing.T, ev *eventv1.Event) {
			want(t, ev.GetType(), "hasura.cron.daily-report")
			s := ev.GetScheduled()
			if s.GetKind() != eventv1.ScheduledKind_SCHEDULED_KIND_CRON || s.GetCreatedAt() != nil {
				t.Errorf("scheduled %v", s)
			}
			want(t, s.GetPayload().GetStructValue().GetFields()["report_type"].GetStringValue(), "daily_summary")
			wantTime(t, ev, "2024-05-01T09:00:00Z")
		}},
		{"one-off", `{"id":"o-1","scheduled_time":"2024-05-01T10:00:00Z","payload":null,"created_at":"2024-04-30T10:00:00.5Z"}`, func(t *testing.T, ev *eventv1.Event) {
			want(t, ev.GetType(), "hasura.scheduled")
			s := ev.GetScheduled()
			if s.GetKind() != eventv1.ScheduledKind_SCHEDULED_KIND_ONE_OFF || s.GetCreatedAt() == nil || s.GetPayload() != nil {
				t.Errorf("scheduled %v", s)
			}
			want(t, s.GetScheduler(), "hasura")
		}},
		{"one-off with a non-object payload", `{"id":"o-2","scheduled_time":"2024-05-01T10:00:00Z","payload":[1,"two"]}`, func(t *testing.T, ev *eventv1.Event) {
			if len(ev.GetScheduled().GetPayload().GetListValue().GetValues()) != 2 {
				t.Error("list payload lost")
			}
		}},
		{"invalid UTF-8 and escapes become valid protobuf strings", et("INSERT", `{"old":null,"new":{"id":"a\ud83d\ude00\ud800x","b":"`+"\xff"+`"}}`, ""), func(t *testing.T, ev *eventv1.Event) {
			want(t, ev.GetSubject(), "public.users/a😀\ufffdx")
			if _, err := proto.Marshal(ev); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := Decode("hasura", []byte(tc.body))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want(t, ev.GetSource(), "hasura")
			want(t, ev.GetDatacontenttype(), "application/json")
			tc.check(t, ev)
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name, body, code, msg string
	}{
		{"not JSON", `{"id":`, webhook.CodeMalformedJSON, "not valid JSON"},
		{"trailing garbage", `{"id":"x"} x`, webhook.CodeMalformedJSON, "after the JSON value"},
		{"empty body", ``, webhook.CodeMalformedJSON, "end of input"},
		{"array", `[1]`, webhook.CodeInvalidPayload, "must be a JSON object"},
		{"unrelated object", `{"hello":"world"}`, webhook.CodeInvalidPayload, "neither"},
		{"missing id", strings.Replace(et("INSERT", "", ""), `"id":"e-1",`, "", 1), webhook.CodeInvalidPayload, "id is missing"},
		{"null id", strings.Replace(et("INSERT", "", ""), `"id":"e-1"`, `"id":null`, 1), webhook.CodeInvalidPayload, "id is missing"},
		{"numeric id", strings.Replace(et("INSERT", "", ""), `"id":"e-1"`, `"id":5`, 1), webhook.CodeInvalidPayload, "id must be a string"},
		{"empty id", strings.Replace(et("INSERT", "", ""), `"id":"e-1"`, `"id":""`, 1), webhook.CodeInvalidPayload, "id is empty"},
		{"id with newline", strings.Replace(et("INSERT", "", ""), `"id":"e-1"`, `"id":"a\nb"`, 1), webhook.CodeInvalidPayload, "control character"},
		{"id too long", strings.Replace(et("INSERT", "", ""), `"id":"e-1"`, `"id":"`+strings.Repeat("x", 300)+`"`, 1), webhook.CodeInvalidPayload, "longer"},
		{"missing table", strings.Replace(et("INSERT", "", ""), `"table":{"schema":"public","name":"users"},`, "", 1), webhook.CodeInvalidPayload, "table is missing"},
		{"missing schema", strings.Replace(et("INSERT", "", ""), `"schema":"public",`, "", 1), webhook.CodeInvalidPayload, "table.schema is missing"},
		{"table not an object", strings.Replace(et("INSERT", "", ""), `{"schema":"public","name":"users"}`, `"users"`, 1), webhook.CodeInvalidPayload, "table must be an object"},
		{"missing event", `{"id":"e","table":{"schema":"s","name":"t"}}`, webhook.CodeInvalidPayload, "event is missing"},
		{"unknown op", et("TRUNCATE", "", ""), webhook.CodeInvalidPayload, "event.op"},
		{"missing data", `{"id":"e","table":{"schema":"s","name":"t"},"event":{"op":"INSERT"}}`, webhook.CodeInvalidPayload, "event.data is missing"},
		{"insert without new", et("INSERT", `{"old":null,"new":null}`, ""), webhook.CodeInvalidPayload, "event.data.new is missing"},
		{"delete without old", et("DELETE", `{"old":null,"new":null}`, ""), webhook.CodeInvalidPayload, "event.data.old is missing"},
		{"manual payload not an object", et("MANUAL", `{"old":null,"new":[1,2]}`, ""), webhook.CodeInvalidPayload, "event.data.new must be an object"},
		{"session variable not a string", strings.Replace(et("INSERT", "", ""), `"admin"`, `1`, 1), webhook.CodeInvalidPayload, "session_variables.x-hasura-role"},
		{"bad created_at", et("INSERT", "", `"created_at":"yesterday"`), webhook.CodeInvalidPayload, "created_at"},
		{"bad delivery_info", et("INSERT", "", `"delivery_info":{"current_retry":"1"}`), webhook.CodeInvalidPayload, "current_retry"},
		{"fractional delivery_info", et("INSERT", "", `"delivery_info":{"current_retry":1.5}`), webhook.CodeInvalidPayload, "current_retry"},
		{"number out of range", et("INSERT", `{"old":null,"new":{"x":1e999}}`, ""), webhook.CodeInvalidPayload, "out of range"},
		{"nested too deep", et("INSERT", `{"old":null,"new":{"x":`+strings.Repeat("[", 600)+strings.Repeat("]", 600)+`}}`, ""), webhook.CodeInvalidPayload, "nested deeper"},
		{"scheduled without id", `{"name":"test_cron_trigger","payload":{"foo":"baz"}}`, webhook.CodeInvalidPayload, "id is missing"},
		{"bad scheduled_time", `{"id":"x","scheduled_time":"soon"}`, webhook.CodeInvalidPayload, "scheduled_time"},
		{"name not a string", `{"id":"x","name":7}`, webhook.CodeInvalidPayload, "name must be a string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := Decode("hasura", []byte(tc.body))
			if err == nil {
				t.Fatalf("accepted: %v", ev)
			}
			var we *webhook.Error
			if !errors.As(err, &we) {
				t.Fatalf("not a *webhook.Error: %v", err)
			}
			if we.Status != http.StatusBadRequest || we.Code != tc.code || !strings.Contains(we.Message, tc.msg) {
				t.Errorf("got %d %s %q, want 400 %s containing %q", we.Status, we.Code, we.Message, tc.code, tc.msg)
			}
		})
	}
}

func TestBodyTraceparent(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"hex sampled", `{"event":{"trace_context":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","sampling_state":"1"}}}`,
			"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{"not sampled", `{"event":{"trace_context":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","sampling_state":"0"}}}`,
			"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"},
		{"numeric", `{"id":"x","event":{"op":"INSERT","trace_context":{"span_id":2,"trace_id":18446744073709551615}}}`,
			"00-0000000000000000ffffffffffffffff-0000000000000002-01"},
		{"null", `{"event":{"trace_context":null}}`, ""},
		{"all zero", `{"event":{"trace_context":{"trace_id":"0","span_id":"1"}}}`, ""},
		{"absent", `{"event":{}}`, ""},
		{"not JSON", `{"event":{"trace_context":{"trace_id":`, ""},
		{"last duplicate key wins", `{"event":{"trace_context":null,"trace_context":{"trace_id":"1","span_id":"2"}}}`,
			"00-00000000000000000000000000000001-0000000000000002-01"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want(t, BodyTraceparent([]byte(tc.body)), tc.want)
		})
	}
}

func TestSource(t *testing.T) {
	if _, err := New(Config{Name: "hasura"}); err == nil {
		t.Error("source without secrets accepted")
	}
	if _, err := New(Config{Secrets: []string{"s"}}); err == nil {
		t.Error("source without name accepted")
	}
	src, err := New(Config{Name: "hooks", Secrets: []string{"", "old", "new"}})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(et("INSERT", "", ""))
	tests := []struct {
		name   string
		header http.Header
		code   string
	}{
		{"current secret", http.Header{"X-Hasura-Webhook-Secret": {"new"}}, ""},
		{"previous secret", http.Header{"X-Hasura-Webhook-Secret": {"old"}}, ""},
		{"missing", http.Header{}, webhook.CodeMissingHeader},
		{"empty secret never matches", http.Header{"X-Hasura-Webhook-Secret": {""}}, webhook.CodeMissingHeader},
		{"wrong", http.Header{"X-Hasura-Webhook-Secret": {"nope"}}, webhook.CodeSignatureMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := src.Verify(&webhook.Request{Source: "hooks", Header: tc.header, Body: body}, time.Now())
			var we *webhook.Error
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("Verify: %v", err)
			case tc.code != "" && (!errors.As(err, &we) || we.Code != tc.code || we.Status != http.StatusUnauthorized):
				t.Fatalf("Verify = %v, want 401 %s", err, tc.code)
			}
		})
	}
	res, err := src.Normalize(&webhook.Request{Source: "hooks", Body: body})
	if err != nil {
		t.Fatal(err)
	}
	want(t, res.Event.GetSource(), "hooks")
	for ct, ok := range map[string]bool{"": true, "application/json": true, "text/plain": false, "application/x-www-form-urlencoded": false} {
		if src.AcceptsContentType(ct) != ok {
			t.Errorf("AcceptsContentType(%q) = %v", ct, !ok)
		}
	}
}

func want(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func wantTime(t *testing.T, ev *eventv1.Event, rfc string) {
	t.Helper()
	w, err := time.Parse(time.RFC3339Nano, rfc)
	if err != nil {
		t.Fatal(err)
	}
	if got := ev.GetTime().AsTime(); !got.Equal(w) {
		t.Errorf("time = %s, want %s", got, w)
	}
}
