package ingest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	"github.com/hookmesh/hookmesh/gateway/internal/hasura"
	"github.com/hookmesh/hookmesh/gateway/internal/typedrows"
)

// BenchmarkTypedRows is the cost of typed rows: the same orders UPDATE (old and new
// rows, jsonb items, numeric total, timestamptz) through the ingest handler with the
// table unmapped (Struct only) and mapped to hookmesh.demo.v1.Order (Struct and
// typed_old / typed_new), without a log (the handler's CPU) and with the embedded
// JetStream log (durable, answered after the ack).
//
//	go test -run '^$' -bench BenchmarkTypedRows -count 5 ./internal/ingest/
func BenchmarkTypedRows(b *testing.B) {
	rows, err := typedrows.New(typedrows.Config{Tables: map[string]string{"public.orders": "hookmesh.demo.v1.Order"}})
	if err != nil {
		b.Fatal(err)
	}
	row := func(id int, status string) string {
		return `{"id":` + strconv.Itoa(id) + `,"customer_id":42,"status":"` + status + `",` +
			`"items":[{"sku":"MUG-LOGO","quantity":2,"price":12.5},{"sku":"TSHIRT-BLK-M","quantity":1,"price":19.99},` +
			`{"sku":"STICKER","quantity":10,"price":0.5}],"total":49.99,"created_at":"2026-05-01T09:30:00.123456+00:00"}`
	}
	body := func(id string, i int) []byte {
		return []byte(`{"id":"` + id + `","table":{"schema":"public","name":"orders"},"trigger":{"name":"orders_all"},` +
			`"event":{"op":"UPDATE","data":{"old":` + row(i, "pending") + `,"new":` + row(i, "completed") + `},` +
			`"session_variables":{"x-hasura-role":"admin"},"trace_context":null},` +
			`"delivery_info":{"current_retry":0,"max_retries":3},"created_at":"2024-05-01T09:30:00.123456"}`)
	}
	var logs = []struct {
		name string
		log  func(b *testing.B) Appender
	}{
		{"handler", func(*testing.B) Appender { return discardLog{} }},
		{"durable", func(b *testing.B) Appender { return openLog(b, eventlog.Config{}) }},
	}
	run := 0
	for _, l := range logs {
		log := l.log(b)
		for _, mode := range []string{"struct", "typed"} {
			cfg := hasura.Config{Name: "hasura", Secrets: []string{hasuraSecret}}
			if mode == "typed" {
				cfg.Rows = rows
			}
			src, err := hasura.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			h, err := New(Config{Log: log, Routes: []Route{{Name: "hasura", Source: src}}, Logger: testLogger()})
			if err != nil {
				b.Fatal(err)
			}
			mux := http.NewServeMux()
			mux.Handle("/hooks/{source}", h)
			run++
			prefix := "t" + strconv.Itoa(run) + "-"
			b.Run(l.name+"/"+mode, func(b *testing.B) {
				b.SetBytes(int64(len(body(prefix, 0))))
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					req := httptest.NewRequest(http.MethodPost, "/hooks/hasura", bytes.NewReader(body(prefix+strconv.Itoa(i), i)))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("X-Hasura-Webhook-Secret", hasuraSecret)
					w := httptest.NewRecorder()
					mux.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Fatal(w.Code, w.Body.String())
					}
				}
			})
		}
	}
}
