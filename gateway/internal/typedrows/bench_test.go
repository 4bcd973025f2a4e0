package typedrows_test

import (
	"testing"

	"github.com/hookmesh/hookmesh/gateway/internal/hasura"
	"github.com/hookmesh/hookmesh/gateway/internal/typedrows"
)

// BenchmarkConvert sets the typed conversion of an orders UPDATE (two rows) beside
// the Struct path it adds to: decode parses the whole body and builds both Structs;
// convert builds and marshals both hookmesh.demo.v1.Order messages from them.
//
//	go test -run '^$' -bench BenchmarkConvert -count 5 ./internal/typedrows/
func BenchmarkConvert(b *testing.B) {
	row := func(status string) string {
		return `{"id":1234,"customer_id":42,"status":"` + status + `",` +
			`"items":[{"sku":"MUG-LOGO","quantity":2,"price":12.5},{"sku":"TSHIRT-BLK-M","quantity":1,"price":19.99},` +
			`{"sku":"STICKER","quantity":10,"price":0.5}],"total":49.99,"created_at":"2026-05-01T09:30:00.123456+00:00"}`
	}
	body := []byte(`{"id":"e1","table":{"schema":"public","name":"orders"},"trigger":{"name":"orders_all"},` +
		`"event":{"op":"UPDATE","data":{"old":` + row("pending") + `,"new":` + row("completed") + `},` +
		`"session_variables":{"x-hasura-role":"admin"},"trace_context":null},"created_at":"2024-05-01T09:30:00.123456"}`)
	c, err := typedrows.New(typedrows.Config{Tables: map[string]string{"public.orders": "hookmesh.demo.v1.Order"}})
	if err != nil {
		b.Fatal(err)
	}
	ev, err := hasura.Decode("hasura", body)
	if err != nil {
		b.Fatal(err)
	}
	ht := ev.GetHasuraTable()
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := hasura.Decode("hasura", body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("convert", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Convert("public", "orders", ht.GetOld()); err != nil {
				b.Fatal(err)
			}
			if _, err := c.Convert("public", "orders", ht.GetNew()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
