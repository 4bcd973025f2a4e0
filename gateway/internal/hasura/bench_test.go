package hasura

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

// BenchmarkDecode is the cost of normalising one Hasura INSERT body (the body of
// scripts/bench-ingest) and encoding the event as the log stores it.
//
//	go test -run '^$' -bench BenchmarkDecode -benchmem ./internal/hasura/
func BenchmarkDecode(b *testing.B) {
	body := []byte(`{"id":"00000001-0000-4000-8000-000000000001","created_at":"2026-11-26T10:00:00.123456",` +
		`"table":{"schema":"public","name":"users"},"trigger":{"name":"users_all"},` +
		`"delivery_info":{"current_retry":0,"max_retries":3},` +
		`"event":{"op":"INSERT","session_variables":{"x-hasura-role":"admin"},"trace_context":null,` +
		`"data":{"old":null,"new":{"id":1,"email":"u1@example.com","name":"` + strings.Repeat("x", 200) + `"}}}}`)
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Decode("hasura", body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode+marshal", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			ev, err := Decode("hasura", body)
			if err != nil {
				b.Fatal(err)
			}
			if buf, err = (proto.MarshalOptions{}).MarshalAppend(buf[:0], ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}
