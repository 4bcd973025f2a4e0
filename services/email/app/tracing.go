package app

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookmesh/hookmesh/services/email/internal/email"
)

// tracingTransport gives every send its own span (the SMTP conversation or the
// outbox write), a child of the delivery's span. Addresses, subjects and bodies
// stay out of it; so does the error text, which may quote an address.
type tracingTransport struct {
	email.Transport
	tracer trace.Tracer
	kind   trace.SpanKind
}

func newTracingTransport(tr email.Transport, tp trace.TracerProvider) email.Transport {
	kind := trace.SpanKindInternal // a file in the outbox
	if tr.Name() == "smtp" {
		kind = trace.SpanKindClient
	}
	return &tracingTransport{Transport: tr, tracer: tp.Tracer("github.com/hookmesh/hookmesh/services/email"), kind: kind}
}

func (t *tracingTransport) Send(ctx context.Context, env email.Envelope) error {
	ctx, span := t.tracer.Start(ctx, "email.send "+t.Name(), trace.WithSpanKind(t.kind),
		trace.WithAttributes(attribute.String("hookmesh.email.transport", t.Name()), attribute.Int("hookmesh.email.recipients", len(env.To))))
	defer span.End()
	err := t.Transport.Send(ctx, env)
	result := sendResult(err)
	span.SetAttributes(attribute.String("hookmesh.email.result", result))
	if err != nil {
		span.SetStatus(codes.Error, result)
	}
	return err
}
