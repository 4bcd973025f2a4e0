package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookmesh/hookmesh/services/email/internal/email"
)

// countingTransport counts send attempts per transport and result.
type countingTransport struct {
	email.Transport
	attempts *prometheus.CounterVec
}

func newCountingTransport(tr email.Transport, reg prometheus.Registerer) (email.Transport, error) {
	attempts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookmesh_email_send_attempts_total",
		Help: "Send attempts by transport and result (sent, rejected: permanent, unavailable: temporary).",
	}, []string{"transport", "result"})
	if err := reg.Register(attempts); err != nil {
		return nil, fmt.Errorf("register email metrics: %w", err)
	}
	for _, r := range []string{"sent", "rejected", "unavailable"} {
		attempts.WithLabelValues(tr.Name(), r) // export zeroes from the start
	}
	return &countingTransport{Transport: tr, attempts: attempts}, nil
}

func (c *countingTransport) Send(ctx context.Context, env email.Envelope) error {
	err := c.Transport.Send(ctx, env)
	c.attempts.WithLabelValues(c.Transport.Name(), sendResult(err)).Inc()
	return err
}

// Rewrites passes on the wrapped transport's email.Rewriter.
func (c *countingTransport) Rewrites() bool {
	rw, ok := c.Transport.(email.Rewriter)
	return ok && rw.Rewrites()
}

// sendResult names a send's outcome for metrics and spans.
func sendResult(err error) string {
	switch {
	case err == nil:
		return "sent"
	case errors.Is(err, email.ErrRejected):
		return "rejected"
	default:
		return "unavailable"
	}
}
