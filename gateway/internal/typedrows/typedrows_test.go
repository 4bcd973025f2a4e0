package typedrows_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/hookmesh/hookmesh/gateway/internal/hasura"
	"github.com/hookmesh/hookmesh/gateway/internal/typedrows"
	demov1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/demo/v1"
)

func compiled(t *testing.T) *typedrows.Converter {
	t.Helper()
	c, err := typedrows.New(typedrows.Config{
		Tables:     map[string]string{"public.accounts": "shop.v1.Account"},
		ProtoPaths: []string{"testdata/proto"},
		Files:      []string{"shop/v1/shop.proto"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// row parses a Hasura body's new row with the real parser, as ingest does.
func row(t *testing.T, rowJSON string) *structpb.Struct {
	t.Helper()
	body := `{"id":"e1","table":{"schema":"public","name":"accounts"},"event":{"op":"INSERT","data":{"old":null,"new":` + rowJSON + `}}}`
	ev, err := hasura.Decode("hasura", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return ev.GetHasuraTable().GetNew()
}

// asJSON renders a converted row with its message's own descriptor.
func asJSON(t *testing.T, c *typedrows.Converter, s *structpb.Struct) map[string]any {
	t.Helper()
	a, err := c.Convert("public", "accounts", s)
	if err != nil {
		t.Fatal(err)
	}
	if a.GetTypeUrl() != "type.googleapis.com/shop.v1.Account" {
		t.Fatalf("type url %q", a.GetTypeUrl())
	}
	m := dynamicpb.NewMessage(c.Tables()[0].Message)
	if err := proto.Unmarshal(a.GetValue(), m); err != nil {
		t.Fatal(err)
	}
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestConvertPostgresEncodings(t *testing.T) {
	c := compiled(t)
	got := asJSON(t, c, row(t, `{
		"id": 9007199254740993,
		"balance_cents": "9223372036854775807",
		"total": 1234.5,
		"ratio": "0.25",
		"created_at": "2026-03-01T10:20:30.123456+02:00",
		"local_at": "2026-03-01T10:20:30.5",
		"born_on": "1990-07-04",
		"settings": {"theme": "dark", "n": 3},
		"extra": [1, "two"],
		"raw_json": {"a": [1, 2]},
		"tags": ["x", "y"],
		"plan": "pro",
		"nickname": null,
		"parent_id": 42,
		"lines": [{"sku": "MUG", "quantity": 2}],
		"small": -5,
		"avatar": "\\xdeadbeef",
		"active": true,
		"visits": "18446744073709551615",
		"score": 1.5,
		"ids": [1, "9007199254740993", -3],
		"counters": {"b": 2, "a": "9007199254740993"},
		"delta": -7,
		"checksum": "18446744073709551615",
		"zero": 0
	}`))
	want := map[string]any{
		"id":            "9007199254740993", // int64 in proto JSON is a string: every digit kept
		"balance_cents": "9223372036854775807",
		"total":         "1234.5",
		"ratio":         0.25,
		"created_at":    "2026-03-01T08:20:30.123456Z",
		"local_at":      "2026-03-01T10:20:30.500Z",
		"born_on":       "1990-07-04T00:00:00Z",
		"settings":      map[string]any{"theme": "dark", "n": 3.0},
		"extra":         []any{1.0, "two"},
		"raw_json":      `{"a":[1,2]}`,
		"tags":          []any{"x", "y"},
		"plan":          "PLAN_PRO",
		"parent_id":     "42",
		"lines":         []any{map[string]any{"sku": "MUG", "quantity": "2"}},
		"small":         -5.0,
		"avatar":        "3q2+7w==",
		"active":        true,
		"visits":        "18446744073709551615",
		"score":         1.5,
		"ids":           []any{"1", "9007199254740993", "-3"},
		"counters":      map[string]any{"a": "9007199254740993", "b": "2"},
		"delta":         "-7",
		"checksum":      "18446744073709551615",
		"zero":          0.0, // optional: a zero is kept
	}
	if !reflect.DeepEqual(got, want) {
		gb, _ := json.MarshalIndent(got, "", " ")
		t.Fatalf("got %s", gb)
	}
}

func TestEnumLabels(t *testing.T) {
	c := compiled(t)
	for label, want := range map[string]string{"pro": "PLAN_PRO", "PLAN_FREE": "PLAN_FREE", "team-plus": "PLAN_TEAM_PLUS", "onHold": "PLAN_ONHOLD", "2": ""} {
		t.Run(label, func(t *testing.T) {
			s := row(t, `{"plan": "`+label+`"}`)
			if want == "" {
				if _, err := c.Convert("public", "accounts", s); err == nil {
					t.Fatal("a string that is no label converted")
				}
				return
			}
			if got := asJSON(t, c, s)["plan"]; got != want {
				t.Fatalf("plan %q -> %v, want %s", label, got, want)
			}
		})
	}
}

func TestRowsThatDoNotFit(t *testing.T) {
	c := compiled(t)
	for _, tc := range []struct {
		name, row, column, msg string
	}{
		{"unknown column", `{"id": 1, "secret": "x"}`, "secret", "no field"},
		{"string for bigint", `{"id": "twelve"}`, "id", "not an integer"},
		{"fraction for bigint", `{"id": 1.5}`, "id", "not an integer"},
		{"beyond int64", `{"balance_cents": 9223372036854775808}`, "balance_cents", "out of range"},
		{"beyond int32", `{"small": 2147483648}`, "small", "out of range for int32"},
		{"negative unsigned", `{"visits": -1}`, "visits", "out of range"},
		{"object for text", `{"tags": "x"}`, "tags", "want an array"},
		{"bad timestamp", `{"created_at": "yesterday"}`, "created_at", "not a timestamp"},
		{"unknown label", `{"plan": "gold"}`, "plan", "not a value of shop.v1.Plan"},
		{"bool for number", `{"ratio": true}`, "ratio", "want a number"},
		{"null element", `{"tags": ["a", null]}`, "tags[1]", "null"},
		{"nested unknown", `{"lines": [{"sku": "A", "qty": 1}]}`, "lines[0].qty", "no field"},
		{"float overflow", `{"score": 1e300}`, "score", "out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Convert("public", "accounts", row(t, tc.row))
			var re *typedrows.RowError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a RowError", err)
			}
			if re.Column != tc.column || !strings.Contains(re.Msg, tc.msg) {
				t.Fatalf("err = %v, want column %s and %q", err, tc.column, tc.msg)
			}
		})
	}
}

func TestNullsLeaveFieldsUnset(t *testing.T) {
	c := compiled(t)
	got := asJSON(t, c, row(t, `{"id": 7, "nickname": null, "parent_id": null, "settings": null, "created_at": null}`))
	if !reflect.DeepEqual(got, map[string]any{"id": "7"}) {
		t.Fatalf("got %v", got)
	}
	got = asJSON(t, c, row(t, `{"nickname": ""}`))
	if v, ok := got["nickname"]; !ok || v != "" {
		t.Fatalf("an empty optional string must be set, got %v", got)
	}
}

func TestUnmappedTableAndNilRow(t *testing.T) {
	c := compiled(t)
	if a, err := c.Convert("public", "other", row(t, `{"x": 1}`)); a != nil || err != nil {
		t.Fatalf("unmapped table: %v, %v", a, err)
	}
	if a, err := c.Convert("public", "accounts", nil); a != nil || err != nil {
		t.Fatalf("nil row: %v, %v", a, err)
	}
}

func TestLinkedMessagesAndImage(t *testing.T) {
	linked, err := typedrows.New(typedrows.Config{Tables: map[string]string{"public.users": "hookmesh.demo.v1.User"}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := linked.Convert("public", "users", row(t, `{"id": 9007199254740993, "email": "a@example.com", "name": "A", "registration_method": "email", "created_at": "2026-01-02T03:04:05.123456+00:00"}`))
	if err != nil {
		t.Fatal(err)
	}
	var u demov1.User
	if err := a.UnmarshalTo(&u); err != nil {
		t.Fatal(err)
	}
	if u.GetId() != 9007199254740993 || u.GetEmail() != "a@example.com" || u.GetCreatedAt().AsTime().Nanosecond() != 123456000 {
		t.Fatalf("user %v", &u)
	}

	// The descriptor set the catalog serves is an image the gateway itself reads.
	set := compiled(t).FileDescriptorSet()
	names := []string{}
	for _, f := range set.GetFile() {
		names = append(names, f.GetName())
	}
	if names[len(names)-1] != "shop/v1/shop.proto" || len(names) != 4 {
		t.Fatalf("files %v: want the imports, then shop/v1/shop.proto", names)
	}
	b, err := proto.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	image := filepath.Join(t.TempDir(), "shop.binpb")
	if err := os.WriteFile(image, b, 0o600); err != nil {
		t.Fatal(err)
	}
	fromImage, err := typedrows.New(typedrows.Config{Tables: map[string]string{"public.accounts": "shop.v1.Account"}, Image: image})
	if err != nil {
		t.Fatal(err)
	}
	if got := asJSON(t, fromImage, row(t, `{"plan": "pro", "id": 1}`)); got["plan"] != "PLAN_PRO" {
		t.Fatalf("from image: %v", got)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.proto"), []byte("syntax = \"proto3\";\nmessage X { int64 = 1; }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  typedrows.Config
		key  string
		msg  string
	}{
		{"unknown message", typedrows.Config{Tables: map[string]string{"public.users": "shop.v1.Nope"}, ProtoPaths: []string{"testdata/proto"}, Files: []string{"shop/v1/shop.proto"}},
			"tables.public.users", "shop.v1.Nope is not defined"},
		{"not a message", typedrows.Config{Tables: map[string]string{"public.users": "shop.v1.Plan"}, ProtoPaths: []string{"testdata/proto"}, Files: []string{"shop/v1/shop.proto"}},
			"tables.public.users", "is not a message"},
		{"bad table name", typedrows.Config{Tables: map[string]string{"users": "hookmesh.demo.v1.User"}}, "tables.users", "<schema>.<table>"},
		{"missing file", typedrows.Config{Tables: map[string]string{"public.users": "x.User"}, ProtoPaths: []string{"testdata/proto"}, Files: []string{"shop/v1/nope.proto"}},
			"schemas.files[0]", "is in none of proto_paths"},
		{"missing proto path", typedrows.Config{Tables: map[string]string{"public.users": "x.User"}, ProtoPaths: []string{"nowhere"}, Files: []string{"a.proto"}},
			"schemas.proto_paths[0]", "not a directory"},
		{"compile error", typedrows.Config{Tables: map[string]string{"public.users": "X"}, ProtoPaths: []string{dir}, Files: []string{"bad.proto"}},
			"schemas.files", "bad.proto:2"},
		{"missing image", typedrows.Config{Tables: map[string]string{"public.users": "X"}, Image: filepath.Join(dir, "none.binpb")}, "schemas.image", "no such file"},
		{"image is not a descriptor set", typedrows.Config{Tables: map[string]string{"public.users": "X"}, Image: filepath.Join(dir, "bad.proto")}, "schemas.image", "not a binary FileDescriptorSet"},
		{"image and files", typedrows.Config{Tables: map[string]string{"public.users": "X"}, Image: "a.binpb", Files: []string{"a.proto"}}, "schemas", "exclude each other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := typedrows.New(tc.cfg)
			var te *typedrows.Error
			if !errors.As(err, &te) {
				t.Fatalf("err = %v, want a typedrows.Error", err)
			}
			if !strings.HasPrefix(err.Error(), tc.key+": ") || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want key %s and %q", err, tc.key, tc.msg)
			}
		})
	}
}

// The descriptor of a mapped message is what consumers generate their types from.
func TestTablesList(t *testing.T) {
	c := compiled(t)
	tables := c.Tables()
	if len(tables) != 1 || tables[0].Schema != "public" || tables[0].Table != "accounts" || tables[0].Message.FullName() != protoreflect.FullName("shop.v1.Account") {
		t.Fatalf("tables %v", tables)
	}
}
