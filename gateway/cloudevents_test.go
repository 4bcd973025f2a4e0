package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/hookmesh/hookmesh/gateway/internal/config"
)

// GET /v1/events/{id}?format=cloudevents through the real listener, the log and
// AdminService, read back by the CloudEvents SDK.
func TestEventAsCloudEvent(t *testing.T) {
	const token = "ce-token"
	// tables: lands on the last source of testConfig, ops.
	f, err := config.Parse([]byte(testConfig + "    tables: {public.users: hookmesh.demo.v1.User}\n"))
	if err != nil {
		t.Fatal(err)
	}
	g := start(t, Config{AdminToken: token}, Deps{File: f, NoDispatcher: true, TracerProvider: sdktrace.NewTracerProvider()})
	base := "http://" + g.AdminAddr() + "/v1/events/"
	post := func(source, id, table, row string) {
		t.Helper()
		body := `{"id":"` + id + `","table":{"schema":"public","name":"` + table + `"},"trigger":{"name":"t"},` +
			`"event":{"op":"INSERT","data":{"old":null,"new":` + row + `}},"created_at":"2026-05-01T09:30:00"}`
		req, _ := http.NewRequest(http.MethodPost, "http://"+g.HTTPAddr()+"/hooks/"+source, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hasura-Webhook-Secret", testSecret)
		req.Header.Set("X-Ops-Secret", testSecret)
		req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		req.Header.Set("tracestate", "vendor=abc")
		if status, out := call(t, req); status != http.StatusOK {
			t.Fatalf("hook %s/%s: %d %v", source, id, status, out)
		}
	}
	// raw GETs u with the token and returns status, Content-Type and body.
	raw := func(u, tok string) (int, string, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), b
	}
	decode := func(b []byte) map[string]any {
		t.Helper()
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber() // a lost digit would show
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		return m
	}
	post("ops", "u-1", "users", `{"id":9007199254740993,"email":"a@example.com","name":"Ada","registration_method":"email","created_at":"2026-05-01T09:30:00.25+00:00"}`)
	post("hasura", "inv-1", "inventory", `{"sku":"MUG","quantity":9007199254740993,"ratio":0.1}`)
	getEventually(t, base+"u-1?source=ops", token)
	getEventually(t, base+"inv-1?source=hasura", token)

	for _, tc := range []struct {
		source, id, typ string
		check           func(t *testing.T, data map[string]any)
	}{
		{"ops", "u-1", "hasura.public.users.insert", func(t *testing.T, data map[string]any) {
			typed := data["typed_new"].(map[string]any)
			if typed["@type"] != "type.googleapis.com/hookmesh.demo.v1.User" || typed["id"] != "9007199254740993" || typed["email"] != "a@example.com" {
				t.Fatalf("typed_new = %v", typed)
			}
		}},
		{"hasura", "inv-1", "hasura.public.inventory.insert", func(t *testing.T, data map[string]any) {
			row := data["new"].(map[string]any)
			if row["quantity"] != "9007199254740993" || row["ratio"] != json.Number("0.1") {
				t.Fatalf("new = %v: want quantity exact, ratio a number", row)
			}
		}},
	} {
		t.Run(tc.source+"/"+tc.id, func(t *testing.T) {
			u := base + tc.id + "?source=" + tc.source
			status, ct, body := raw(u+"&format=cloudevents", token)
			if status != http.StatusOK || ct != "application/cloudevents+json" {
				t.Fatalf("%d %q %s", status, ct, body)
			}
			var ce cloudevents.Event
			if err := json.Unmarshal(body, &ce); err != nil {
				t.Fatalf("the SDK refuses it: %v\n%s", err, body)
			}
			if err := ce.Validate(); err != nil {
				t.Fatalf("invalid CloudEvent: %v\n%s", err, body)
			}
			_, _, restBody := raw(u, token)
			ev := decode(restBody)["event"].(map[string]any)
			wantTime, _ := time.Parse(time.RFC3339Nano, ev["time"].(string))
			if ce.SpecVersion() != "1.0" || ce.ID() != tc.id || ce.Source() != tc.source || ce.Type() != tc.typ ||
				ce.Subject() != ev["subject"] || ce.Subject() == "" || !ce.Time().Equal(wantTime) || ce.DataContentType() != "application/json" {
				t.Fatalf("attributes of %s\nvs the event %v", body, ev)
			}
			ext := ce.Extensions()
			if ext["traceparent"] != ev["traceparent"] || !strings.HasPrefix(ev["traceparent"].(string), "00-4bf92f3577b34da6a3ce929d0e0e4736-") ||
				ext["tracestate"] != "vendor=abc" {
				t.Fatalf("trace extensions %v, event traceparent %v", ext, ev["traceparent"])
			}
			// data is the payload exactly as the REST API renders it.
			data := decode(ce.Data())
			if !reflect.DeepEqual(data, ev["hasura_table"]) {
				t.Fatalf("data %v\nwant the payload %v", data, ev["hasura_table"])
			}
			tc.check(t, data)
		})
	}

	t.Run("without format the route is unchanged", func(t *testing.T) {
		for _, q := range []string{"", "&format="} {
			status, ct, body := raw(base+"u-1?source=ops"+q, token)
			if m := decode(body); status != http.StatusOK || ct != "application/json" || m["event"] == nil || m["deliveries"] == nil {
				t.Fatalf("%q: %d %q %s", q, status, ct, body)
			}
		}
	})
	for _, tc := range []struct {
		name, query, tok string
		status           int
		code, mentions   string
	}{
		{"unknown format", "u-1?format=xml", token, http.StatusBadRequest, "invalid_argument", "format"},
		{"unknown id, as without format", "nope?format=cloudevents", token, http.StatusNotFound, "not_found", "event not found"},
		{"no token", "u-1?format=cloudevents", "", http.StatusUnauthorized, "unauthenticated", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, ct, body := raw(base+tc.query, tc.tok)
			e, _ := decode(body)["error"].(map[string]any)
			if status != tc.status || ct != "application/json" || e["code"] != tc.code || !strings.Contains(e["message"].(string), tc.mentions) {
				t.Fatalf("%d %q %s, want %d %s naming %q", status, ct, body, tc.status, tc.code, tc.mentions)
			}
		})
	}
}
