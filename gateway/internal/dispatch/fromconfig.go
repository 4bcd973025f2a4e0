package dispatch

import (
	"time"

	"github.com/hookmesh/hookmesh/gateway/internal/config"
)

// SubscriptionsFromConfig maps the YAML file's subscriptions (already defaulted
// and validated by config) to the dispatcher's, in order.
func SubscriptionsFromConfig(subs []config.Subscription) []Subscription {
	out := make([]Subscription, 0, len(subs))
	for _, s := range subs {
		d := Subscription{
			Name:        s.Name,
			Target:      s.Target,
			Events:      append([]string(nil), s.Events...),
			Filter:      s.Filter,
			Timeout:     time.Duration(s.Timeout),
			MaxInFlight: s.MaxInFlight,
			StartFrom:   s.StartFrom,
			Batch:       Batch{MaxEvents: s.Batch.MaxEvents, MaxWait: time.Duration(s.Batch.MaxWait)},
			Retry: RetryPolicy{
				Policy:      s.Retry.Policy,
				NumRetries:  s.Retry.NumRetries,
				Interval:    time.Duration(s.Retry.Interval),
				MaxAttempts: s.Retry.MaxAttempts,
				Initial:     time.Duration(s.Retry.Initial),
				Max:         time.Duration(s.Retry.Max),
			},
		}
		if s.TLS != nil {
			d.TLS = &TLS{CAFile: s.TLS.CAFile, CertFile: s.TLS.CertFile, KeyFile: s.TLS.KeyFile, ServerName: s.TLS.ServerName}
		}
		if s.Breaker != nil {
			d.Breaker = &Breaker{Failures: s.Breaker.Failures, Cooldown: time.Duration(s.Breaker.Cooldown)}
		}
		out = append(out, d)
	}
	return out
}
