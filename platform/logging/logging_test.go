package logging_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/hookmesh/hookmesh/platform/logging"
)

func TestNew(t *testing.T) {
	traceID, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	spanID, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	traced := trace.ContextWithSpanContext(t.Context(),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled}))

	tests := []struct {
		name string
		log  func(l *slog.Logger)
		want map[string]any // expected keys (nil value: must be absent)
	}{
		{
			name: "traced context",
			log:  func(l *slog.Logger) { l.InfoContext(traced, "event delivered", "event_id", "evt_1") },
			want: map[string]any{"msg": "event delivered", "level": "INFO", "component": "gateway", "event_id": "evt_1",
				"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"},
		},
		{
			name: "no span",
			log:  func(l *slog.Logger) { l.InfoContext(t.Context(), "started") },
			want: map[string]any{"msg": "started", "component": "gateway", "trace_id": nil, "span_id": nil},
		},
		{
			name: "secrets redacted",
			log: func(l *slog.Logger) {
				l.With("admin_token", "t0k").WarnContext(traced, "auth", "STRIPE_WEBHOOK_SECRET", "whsec_x", "Authorization", "Bearer x", "user", "u1")
			},
			want: map[string]any{"admin_token": logging.Redacted, "STRIPE_WEBHOOK_SECRET": logging.Redacted,
				"Authorization": logging.Redacted, "user": "u1", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"},
		},
		{
			name: "below level",
			log:  func(l *slog.Logger) { l.DebugContext(traced, "noise") },
			want: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tc.log(logging.New(&buf, "gateway"))
			if tc.want == nil {
				if buf.Len() != 0 {
					t.Errorf("logged %q, want nothing", buf.String())
				}
				return
			}
			var got map[string]any
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("not one JSON object: %q: %v", buf.String(), err)
			}
			for k, v := range tc.want {
				gv, ok := got[k]
				if v == nil {
					if ok {
						t.Errorf("%s = %v, want absent", k, gv)
					}
					continue
				}
				if gv != v {
					t.Errorf("%s = %v, want %v", k, gv, v)
				}
			}
		})
	}
}

func TestNewLevel(t *testing.T) {
	var buf bytes.Buffer
	l := logging.NewLevel(&buf, "email", slog.LevelDebug).WithGroup("smtp")
	l.DebugContext(t.Context(), "dial", "host", "mail")
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%q: %v", buf.String(), err)
	}
	if got["component"] != "email" || got["smtp"].(map[string]any)["host"] != "mail" {
		t.Errorf("record = %v", got)
	}
}

func TestCaptureFromManyGoroutines(t *testing.T) {
	var c logging.Capture
	l := logging.New(&c, "test")
	done := make(chan struct{})
	for i := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for j := range 50 {
				l.Info("line", "writer", i, "n", j)
			}
		}()
	}
	for range 8 {
		<-done
	}
	_, _ = c.Write([]byte("not json\n"))
	lines := c.Lines()
	if len(lines) != 400 {
		t.Fatalf("%d lines, want 400 (interleaved writes would break some)", len(lines))
	}
	if lines[0]["component"] != "test" || lines[0]["msg"] != "line" {
		t.Fatalf("line = %v", lines[0])
	}
}
