package dispatch

import (
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/gateway/internal/config"
)

func TestSubscriptionsFromConfig(t *testing.T) {
	in := []config.Subscription{{
		Name:        "orders",
		Target:      "dns:///orders:9090",
		Events:      []string{"hasura.public.orders.*"},
		Filter:      "true",
		Retry:       config.Retry{Policy: "exponential", MaxAttempts: 8, Initial: config.Duration(time.Second), Max: config.Duration(10 * time.Minute)},
		Timeout:     config.Duration(30 * time.Second),
		MaxInFlight: 64,
		TLS:         &config.TLS{CAFile: "ca.pem", ServerName: "orders"},
		Breaker:     &config.Breaker{Failures: 5, Cooldown: config.Duration(time.Minute)},
		Batch:       config.Batch{MaxEvents: 128, MaxWait: config.Duration(2 * time.Millisecond)},
	}, {
		Name: "email", Target: "builtin:email", Events: []string{"users.*"},
		Retry: config.Retry{Policy: "fixed", NumRetries: 3, Interval: config.Duration(10 * time.Second)},
	}}
	out := SubscriptionsFromConfig(in)
	if len(out) != 2 {
		t.Fatalf("got %d", len(out))
	}
	o := out[0]
	if o.Name != "orders" || o.Target != "dns:///orders:9090" || o.Filter != "true" || o.Timeout != 30*time.Second || o.MaxInFlight != 64 ||
		o.Retry != (RetryPolicy{Policy: "exponential", MaxAttempts: 8, Initial: time.Second, Max: 10 * time.Minute}) ||
		o.TLS == nil || o.TLS.CAFile != "ca.pem" || o.TLS.ServerName != "orders" ||
		o.Breaker == nil || o.Breaker.Failures != 5 || o.Breaker.Cooldown != time.Minute ||
		o.Batch != (Batch{MaxEvents: 128, MaxWait: 2 * time.Millisecond}) {
		t.Fatalf("orders = %+v", o)
	}
	if e := out[1]; e.Retry.Attempts() != 4 || e.Retry.Interval != 10*time.Second || e.TLS != nil || e.Breaker != nil {
		t.Fatalf("email = %+v", e)
	}
}
