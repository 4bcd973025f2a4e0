package webhook

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
)

func slackReq(ct, body string, extra ...string) *Request {
	ts := testNow.Unix()
	h := append([]string{"X-Slack-Request-Timestamp", itoa(ts), "X-Slack-Signature", signSlack(ts, []byte(body))}, extra...)
	return newReq("slack", ct, []byte(body), h...)
}

const form = "application/x-www-form-urlencoded"

func TestSlackNormalize(t *testing.T) {
	src, err := NewSlack(SlackConfig{Secrets: []string{slackSecret}, Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	events := vectorByID(t, "slack-valid-events-api-json").Request.Body
	command := vectorByID(t, "slack-valid-docs-example").Request.Body
	blockActions := `{"type":"block_actions","trigger_id":"13345224609.738474920.8088930838d88f008e0",` +
		`"team":{"id":"T9TK3CUKW","domain":"example"},"user":{"id":"UA8RXUSPL"},"channel":{"id":"CBR2V3XEX"},` +
		`"actions":[{"action_id":"approve","value":"42"}]}`
	viewSubmission := `{"type":"view_submission","trigger_id":"1.2.3","team":{"id":"T1"},"user":{"id":"U1"},"view":{"id":"V123"}}`
	tests := []struct {
		name string
		req  *Request
		want wantEvent
		ack  bool
	}{
		{
			name: "event_callback (vector body, retried by Slack)",
			req:  slackReq("application/json", events, "X-Slack-Retry-Num", "1", "X-Slack-Retry-Reason", "http_timeout"),
			want: wantEvent{id: "Ev0PV52K25", typ: "slack.app_mention", provider: "slack", providerType: "app_mention",
				subject: "T061EG9R6/C0LAN2Q65", time: time.Unix(1767225599, 0),
				headers: map[string]string{"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"}},
		},
		{
			name: "event whose channel is an object",
			req: slackReq("application/json", `{"type":"event_callback","team_id":"T1","event_id":"Ev2",`+
				`"event":{"type":"channel_created","channel":{"id":"C9","name":"x"}},"event_time":1767225000}`),
			want: wantEvent{id: "Ev2", typ: "slack.channel_created", provider: "slack", subject: "T1/C9", time: time.Unix(1767225000, 0)},
		},
		{
			name: "event with a user object and no channel, no event_time",
			req: slackReq("application/json", `{"type":"event_callback","team_id":"T1","event_id":"Ev3",`+
				`"event":{"type":"user_change","user":{"id":"U7"}}}`),
			want: wantEvent{id: "Ev3", typ: "slack.user_change", provider: "slack", subject: "T1/U7", time: testNow},
		},
		{
			name: "app_rate_limited: id from app and minute",
			req: slackReq("application/json", `{"token":"t","type":"app_rate_limited","team_id":"T1",`+
				`"minute_rate_limited":1767225540,"api_app_id":"A1"}`),
			want: wantEvent{id: "rl_A1_1767225540", typ: "slack.app_rate_limited", provider: "slack", subject: "T1",
				time: time.Unix(1767225540, 0)},
		},
		{
			name: "slash command (docs vector body)",
			req:  slackReq(form, command),
			want: wantEvent{id: "trg_398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
				typ: "slack.command.webhook-collect", provider: "slack", providerType: "command.webhook-collect",
				subject: "T1DC2JH3J/G8PSS9T3V", time: testNow, contentType: form,
				payload: func(t *testing.T, p map[string]any) {
					if p["command"] != "/webhook-collect" || p["text"] != "" || p["user_id"] != "U2CERLKJA" {
						t.Errorf("form fields not decoded: %v", p)
					}
				}},
			ack: true,
		},
		{
			name: "interactivity block_actions",
			req:  slackReq(form, "payload="+url.QueryEscape(blockActions)),
			want: wantEvent{id: "trg_13345224609.738474920.8088930838d88f008e0", typ: "slack.interactive.block_actions",
				provider: "slack", providerType: "interactive.block_actions", subject: "T9TK3CUKW/CBR2V3XEX",
				contentType: form, time: testNow,
				payload: func(t *testing.T, p map[string]any) {
					if p["type"] != "block_actions" {
						t.Errorf("payload is not the decoded payload field: %v", p)
					}
				}},
			ack: true,
		},
		{
			name: "interactivity view_submission: subject is the view",
			req:  slackReq(form, "payload="+url.QueryEscape(viewSubmission)),
			want: wantEvent{id: "trg_1.2.3", typ: "slack.interactive.view_submission", provider: "slack",
				subject: "T1/V123", contentType: form},
			ack: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := src.Verify(tt.req, testNow); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			res, err := src.Normalize(tt.req)
			checkEvent(t, tt.req, res, err, tt.want)
			if res.AckEmpty != tt.ack {
				t.Errorf("AckEmpty = %v, want %v", res.AckEmpty, tt.ack)
			}
		})
	}
}

func TestSlackNoTriggerIDGetsUUIDv7(t *testing.T) {
	src, err := NewSlack(SlackConfig{Secrets: []string{slackSecret}})
	if err != nil {
		t.Fatal(err)
	}
	req := slackReq(form, "payload="+url.QueryEscape(`{"type":"view_closed","team":{"id":"T1"},"user":{"id":"U1"},"view":{"id":"V1"}}`))
	ids := map[string]bool{}
	for range 2 {
		res, err := src.Normalize(req)
		if err != nil {
			t.Fatal(err)
		}
		u, err := uuid.Parse(res.Event.GetId())
		if err != nil || u.Version() != 7 {
			t.Fatalf("id %q is not a UUIDv7", res.Event.GetId())
		}
		if res.Event.GetType() != "slack.interactive.view_closed" {
			t.Fatalf("type %q", res.Event.GetType())
		}
		ids[res.Event.GetId()] = true
	}
	if len(ids) != 2 {
		t.Fatal("two generated ids are equal")
	}
}

func TestSlackHandshakes(t *testing.T) {
	src, err := NewSlack(SlackConfig{Secrets: []string{slackSecret}})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("url_verification answers the challenge", func(t *testing.T) {
		req := slackReq("application/json", `{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`)
		if err := src.Verify(req, testNow); err != nil {
			t.Fatal(err)
		}
		res, err := src.Normalize(req)
		if err != nil {
			t.Fatal(err)
		}
		var reply map[string]string
		if err := json.Unmarshal(res.Reply, &reply); err != nil || res.Event != nil {
			t.Fatalf("reply %q (event %v): %v", res.Reply, res.Event, err)
		}
		if reply["challenge"] != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" || res.ReplyContentType != "application/json" {
			t.Fatalf("reply %v, %q", reply, res.ReplyContentType)
		}
	})
	t.Run("ssl_check is acknowledged without an event", func(t *testing.T) {
		res, err := src.Normalize(slackReq(form, "ssl_check=1&token=x"))
		if err != nil || res.Event != nil || string(res.Reply) != "ok" {
			t.Fatalf("%+v, %v", res, err)
		}
	})
}

func TestSlackNormalizeErrors(t *testing.T) {
	src, err := NewSlack(SlackConfig{Secrets: []string{slackSecret}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, ct, body string
		status         int
		code           string
	}{
		{"url_verification without challenge", "application/json", `{"type":"url_verification"}`, 400, CodeInvalidPayload},
		{"event_callback without event_id", "application/json", `{"type":"event_callback","event":{"type":"message"}}`, 400, CodeInvalidPayload},
		{"event_callback without event.type", "application/json", `{"type":"event_callback","event_id":"Ev1","event":{}}`, 400, CodeInvalidPayload},
		{"app_rate_limited without minute", "application/json", `{"type":"app_rate_limited"}`, 400, CodeInvalidPayload},
		{"no type", "application/json", `{"event_id":"Ev1"}`, 400, CodeInvalidPayload},
		{"unknown type", "application/json", `{"type":"block_actions"}`, 400, CodeInvalidPayload},
		{"not JSON", "application/json", `type=event_callback`, 400, CodeMalformedJSON},
		{"form without payload or command", form, `text=hi`, 400, CodeInvalidPayload},
		{"command with empty name", form, `command=%2F&trigger_id=1`, 400, CodeInvalidPayload},
		{"interactivity payload not JSON", form, `payload=%7B`, 400, CodeMalformedJSON},
		{"interactivity payload without type", form, `payload=%7B%7D`, 400, CodeInvalidPayload},
		{"broken form", form, `payload=%`, 400, CodeInvalidPayload},
		{"text/plain", "text/plain", `hi`, 415, CodeUnsupportedMediaType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := src.Normalize(slackReq(tt.ct, tt.body))
			wantError(t, err, tt.status, tt.code)
		})
	}
}

// A form field with bytes that are not UTF-8 still gives an event protobuf can encode.
func TestSlackFormInvalidUTF8(t *testing.T) {
	src, err := NewSlack(SlackConfig{Secrets: []string{slackSecret}})
	if err != nil {
		t.Fatal(err)
	}
	req := slackReq(form, "command=%2Fdeploy&text=%FF%FE&trigger_id=9.9&team_id=T1&channel_id=C1")
	res, err := src.Normalize(req)
	checkEvent(t, req, res, err, wantEvent{id: "trg_9.9", typ: "slack.command.deploy", provider: "slack",
		subject: "T1/C1", contentType: form})
}
