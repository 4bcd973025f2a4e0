package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDemoMapsTheDemoTables(t *testing.T) {
	f, err := Demo()
	if err != nil {
		t.Fatal(err)
	}
	h, _ := f.Source("hasura")
	got := map[string]string{}
	for _, tb := range h.Rows().Tables() {
		got[tb.Schema+"."+tb.Table] = string(tb.Message.FullName())
	}
	want := map[string]string{"public.users": "hookmesh.demo.v1.User", "public.orders": "hookmesh.demo.v1.Order",
		"public.inventory": "hookmesh.demo.v1.InventoryItem"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("demo table %s -> %q, want %q", k, got[k], v)
		}
	}
}

// Relative schema paths are from the config file's directory, not the working one.
func TestLoadCompilesSchemasNextToTheFile(t *testing.T) {
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "proto", "acme"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "proto", "acme", "rows.proto"),
		[]byte("syntax = \"proto3\";\npackage acme;\nmessage Account { int64 id = 1; }\n"), 0o600))
	path := filepath.Join(dir, "hookmesh.yaml")
	must(t, os.WriteFile(path, []byte(minimal+`    tables: {public.accounts: acme.Account}
    schemas: {proto_paths: [proto], files: [acme/rows.proto]}
`), 0o600))
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Sources[0].Rows().Mapped("public", "accounts") {
		t.Fatal("public.accounts is not mapped")
	}
}

func TestTablesErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown message", minimal + "    tables: {public.users: demo.v1.Nobody}\n",
			"line 5: sources[0].tables.public.users: message demo.v1.Nobody is not defined"},
		{"missing file", minimal + "    tables: {public.users: demo.v1.User}\n    schemas: {files: [nope.proto]}\n",
			"line 6: sources[0].schemas.files[0]: \"nope.proto\" is in none of proto_paths"},
		{"table mapped twice", minimal + "    tables:\n      public.users: hookmesh.demo.v1.User\n      public.users: hookmesh.demo.v1.Order\n",
			"line 7"},
		{"not a hasura source", "sources:\n  - name: s\n    kind: stripe\n    secrets_from_env: [S]\n    tables: {public.users: hookmesh.demo.v1.User}\n",
			"tables and schemas apply only to hasura sources"},
		{"schemas without tables", minimal + "    schemas: {image: x.binpb}\n", "sources[0].schemas: schemas needs tables"},
		{"unknown schemas key", minimal + "    tables: {public.users: hookmesh.demo.v1.User}\n    schemas: {protopaths: [x]}\n", "protopaths"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
