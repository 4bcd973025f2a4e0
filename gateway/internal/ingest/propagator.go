package ingest

import (
	"context"

	"go.opentelemetry.io/contrib/propagators/b3"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Propagator extracts the sender's trace context in the order hookmesh trusts it:
// W3C traceparent (+ tracestate), else B3 (multi-header X-B3-* or single b3, Hasura's
// default), plus baggage. A composite propagator would let B3 overwrite a
// traceparent sent alongside it; this one does not.
func Propagator() propagation.TextMapPropagator { return preferW3C{} }

type preferW3C struct{}

var (
	w3c     = propagation.TraceContext{}
	b3prop  = b3.New(b3.WithInjectEncoding(b3.B3MultipleHeader))
	baggage = propagation.Baggage{}
)

func (preferW3C) Extract(ctx context.Context, c propagation.TextMapCarrier) context.Context {
	ctx = baggage.Extract(ctx, c)
	if c.Get("traceparent") != "" {
		if out := w3c.Extract(ctx, c); trace.SpanContextFromContext(out).IsValid() {
			return out
		}
	}
	return b3prop.Extract(ctx, c)
}

func (preferW3C) Inject(ctx context.Context, c propagation.TextMapCarrier) {
	w3c.Inject(ctx, c)
	baggage.Inject(ctx, c)
}

func (preferW3C) Fields() []string {
	return append(append(w3c.Fields(), baggage.Fields()...), b3prop.Fields()...)
}
