package gateway

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookmesh/hookmesh/gateway/internal/config"
)

// Typed rows and the Struct's exact numbers, through the real ingest handler, the
// log and GET /v1/events/{id}.
func TestTypedRowsThroughIngestAndREST(t *testing.T) {
	f, err := config.Parse([]byte(`sources:
  - name: hasura
    kind: hasura
    secrets_from_env: [HASURA_WEBHOOK_SECRET]
    tables:
      public.users: hookmesh.demo.v1.User
      public.inventory: hookmesh.demo.v1.InventoryItem
  - name: ops
    kind: hasura
    header: X-Ops-Secret
    secrets_from_env: [OPS_SECRET]
`))
	if err != nil {
		t.Fatal(err)
	}
	g := start(t, Config{}, Deps{File: f, NoDispatcher: true})
	post := func(source, id, table, row string) (int, map[string]any) {
		body := `{"id":"` + id + `","table":{"schema":"public","name":"` + table + `"},"trigger":{"name":"t"},` +
			`"event":{"op":"INSERT","data":{"old":null,"new":` + row + `}},"created_at":"2026-05-01T09:30:00"}`
		req, _ := http.NewRequest(http.MethodPost, "http://"+g.HTTPAddr()+"/hooks/"+source, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hasura-Webhook-Secret", testSecret)
		req.Header.Set("X-Ops-Secret", testSecret)
		return call(t, req)
	}
	table := func(body map[string]any) map[string]any {
		return body["event"].(map[string]any)["hasura_table"].(map[string]any)
	}

	t.Run("struct keeps a bigint beyond 2^53", func(t *testing.T) {
		if status, body := post("ops", "big-1", "inventory", `{"sku":"MUG","quantity":9007199254740993,"ratio":0.1}`); status != http.StatusOK {
			t.Fatalf("%d %v", status, body)
		}
		_, body := getEventually(t, "http://"+g.HTTPAddr()+"/v1/events/big-1?source=ops", "")
		row := table(body)["new"].(map[string]any)
		if row["quantity"] != "9007199254740993" || row["ratio"] != 0.1 {
			t.Fatalf("new = %v: want quantity as its exact decimal text, ratio a number", row)
		}
		if typed := table(body)["typed_new"]; typed != nil {
			t.Fatalf("an unmapped table got typed_new: %v", table(body))
		}
	})

	t.Run("typed row beside the struct", func(t *testing.T) {
		status, body := post("hasura", "u-1", "users", `{"id":9007199254740993,"email":"a@example.com","name":"Ada","registration_method":"email","created_at":"2026-05-01T09:30:00.25+00:00"}`)
		if status != http.StatusOK {
			t.Fatalf("%d %v", status, body)
		}
		_, body = getEventually(t, "http://"+g.HTTPAddr()+"/v1/events/u-1?source=hasura", "")
		typed := table(body)["typed_new"].(map[string]any)
		if typed["@type"] != "type.googleapis.com/hookmesh.demo.v1.User" || typed["id"] != "9007199254740993" ||
			typed["email"] != "a@example.com" || typed["created_at"] != "2026-05-01T09:30:00.250Z" {
			t.Fatalf("typed_new = %v", typed)
		}
		if table(body)["new"].(map[string]any)["email"] != "a@example.com" {
			t.Fatalf("the struct is gone: %v", table(body))
		}
	})

	for _, tc := range []struct{ name, id, row, column string }{
		{"out of range", "inv-1", `{"sku":"MUG","name":"Mug","quantity":9007199254740993}`, "column quantity: 9007199254740993 is out of range for int32"},
		{"unknown column", "inv-2", `{"sku":"MUG","colour":"red"}`, "column colour: no field of that name in hookmesh.demo.v1.InventoryItem"},
		{"wrong type", "inv-3", `{"sku":"MUG","quantity":"many"}`, `column quantity: "many" is not an integer`},
	} {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			status, body := post("hasura", tc.id, "inventory", tc.row)
			e, _ := body["error"].(map[string]any)
			if status != http.StatusBadRequest || e["code"] != "invalid_payload" || !strings.Contains(e["message"].(string), tc.column) {
				t.Fatalf("%d %v, want 400 invalid_payload naming %q", status, body, tc.column)
			}
			if status, _ := get(t, "http://"+g.HTTPAddr()+"/v1/events/"+tc.id+"?source=hasura", ""); status != http.StatusNotFound {
				t.Fatalf("a refused row was stored: %d", status)
			}
		})
	}
}

// GET /v1/schemas is served beside the REST API, behind the same token.
func TestSchemasRoute(t *testing.T) {
	const token = "schemas-token"
	g := start(t, Config{AdminToken: token}, Deps{File: mustDemo(t), Secrets: func(string) (string, bool, error) { return "whsec_c2VjcmV0LWtleQ==", true, nil }, NoDispatcher: true})
	u := "http://" + g.AdminAddr() + "/v1/schemas"
	if status, _ := get(t, u, ""); status != http.StatusUnauthorized {
		t.Fatalf("without token: %d", status)
	}
	status, body := get(t, u, token)
	if status != http.StatusOK {
		t.Fatalf("%d %v", status, body)
	}
	found := false
	for _, e := range body["event_types"].([]any) {
		m := e.(map[string]any)
		found = found || (m["type"] == "hasura.public.orders.update" && m["row"] == "hookmesh.demo.v1.Order")
	}
	if !found {
		t.Fatalf("no typed orders entry: %v", body)
	}
}

// A message compiled from the user's own .proto at start renders in the REST API
// (protojson resolves typed_new's Any) like a linked one.
func TestTypedRowsFromCompiledSchemas(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "proto", "acme"), 0o755); err != nil {
		t.Fatal(err)
	}
	src := "syntax = \"proto3\";\npackage acme.gwtest;\nimport \"google/protobuf/timestamp.proto\";\n" +
		"enum Plan { PLAN_UNSPECIFIED = 0; PLAN_PRO = 1; }\n" +
		"message Account { int64 id = 1; Plan plan = 2; google.protobuf.Timestamp seen_at = 3; }\n"
	if err := os.WriteFile(filepath.Join(dir, "proto", "acme", "rows.proto"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "hookmesh.yaml")
	if err := os.WriteFile(cfgPath, []byte(testConfig+"    tables: {public.accounts: acme.gwtest.Account}\n"+
		"    schemas: {proto_paths: [proto], files: [acme/rows.proto]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	g := start(t, Config{}, Deps{File: f, NoDispatcher: true})
	body := `{"id":"acc-1","table":{"schema":"public","name":"accounts"},"event":{"op":"INSERT","data":{"old":null,` +
		`"new":{"id":9007199254740993,"plan":"pro","seen_at":"2026-05-01T09:30:00+02:00"}}}}`
	req, _ := http.NewRequest(http.MethodPost, "http://"+g.HTTPAddr()+"/hooks/ops", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Ops-Secret", testSecret)
	if status, out := call(t, req); status != http.StatusOK {
		t.Fatalf("%d %v", status, out)
	}
	_, out := getEventually(t, "http://"+g.HTTPAddr()+"/v1/events/acc-1?source=ops", "")
	typed := out["event"].(map[string]any)["hasura_table"].(map[string]any)["typed_new"].(map[string]any)
	if typed["@type"] != "type.googleapis.com/acme.gwtest.Account" || typed["id"] != "9007199254740993" ||
		typed["plan"] != "PLAN_PRO" || typed["seen_at"] != "2026-05-01T07:30:00Z" {
		t.Fatalf("typed_new = %v", typed)
	}
}
