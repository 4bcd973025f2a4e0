package ingest

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

type discardLog struct{}

func (discardLog) Append(context.Context, *eventv1.Event) (eventlog.AppendResult, error) {
	return eventlog.AppendResult{Seq: 1}, nil
}

// BenchmarkHandlerCPU is the handler's own cost per webhook (no network, no log):
// what ingest adds on top of the HTTP server and the event log.
func BenchmarkHandlerCPU(b *testing.B) {
	for _, traced := range []bool{false, true} {
		name := "untraced"
		cfg := Config{Log: discardLog{}, Routes: []Route{hasuraRoute(b, "hasura", "")}}
		if traced {
			name = "traced"
			tp := sdktrace.NewTracerProvider()
			b.Cleanup(func() { _ = tp.Shutdown(context.WithoutCancel(b.Context())) }) // b.Context is cancelled by now
			cfg.TracerProvider = tp
		}
		h, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.Handle("/hooks/{source}", h)
		body := hasuraBody("x")
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				req := httptest.NewRequest(http.MethodPost, "/hooks/hasura", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Hasura-Webhook-Secret", hasuraSecret)
				req.Header.Set("X-B3-TraceId", "80f198ee56343ba864fe8b2a57d3eff7")
				req.Header.Set("X-B3-SpanId", "e457b5a2e4d86bd1")
				req.Header.Set("X-B3-Sampled", "1")
				w := httptest.NewRecorder()
				mux.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatal(w.Code, w.Body.String(), strconv.Itoa(i))
				}
			}
		})
	}
}
