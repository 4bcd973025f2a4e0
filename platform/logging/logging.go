// Package logging builds the JSON slog logger every component uses: a
// component attribute, the trace_id / span_id of the span in the call's
// context, and redaction of attributes whose key names a secret.
package logging

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// Redacted replaces the value of an attribute whose key looks like a secret.
const Redacted = "[REDACTED]"

// secretKeys are key fragments that mark an attribute as secret (matched
// case-insensitively), a backstop for "never log secrets".
var secretKeys = []string{"secret", "password", "passwd", "authorization", "api_key", "apikey", "token", "cookie"}

// New returns a JSON logger at Info level writing to w, with the attribute
// component=component on every record.
func New(w io.Writer, component string) *slog.Logger {
	return NewLevel(w, component, slog.LevelInfo)
}

// NewLevel is New with a minimum level.
func NewLevel(w io.Writer, component string, level slog.Leveler) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: redact})
	return slog.New(traceHandler{h}).With("component", component)
}

func redact(_ []string, a slog.Attr) slog.Attr {
	k := strings.ToLower(a.Key)
	for _, s := range secretKeys {
		if strings.Contains(k, s) {
			return slog.String(a.Key, Redacted)
		}
	}
	return a
}

// traceHandler adds the trace and span id of ctx's span to each record.
type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
