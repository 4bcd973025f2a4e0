package ingest

import (
	"fmt"

	"github.com/hookmesh/hookmesh/gateway/internal/config"
	"github.com/hookmesh/hookmesh/gateway/internal/hasura"
	"github.com/hookmesh/hookmesh/gateway/internal/webhook"
)

// Routes builds a Route for every configured source, resolving its secrets through
// lookup (nil: the environment, NAME or NAME_FILE).
func Routes(f *config.File, lookup config.SecretLookup) ([]Route, error) {
	routes := make([]Route, 0, len(f.Sources))
	for i := range f.Sources {
		s := &f.Sources[i]
		secrets, err := s.Secrets(lookup)
		if err != nil {
			return nil, err
		}
		src, err := newSource(s, secrets)
		if err != nil {
			return nil, err
		}
		routes = append(routes, Route{
			Name:         s.Name,
			Source:       src,
			MaxBodyBytes: int(s.MaxBodyBytes),
			BodyTimeout:  s.BodyTimeout.Std(),
			Trace:        s.Trace,
			RateLimit:    s.RateLimit.Limiter(),
			Warnings:     webhook.SecretWarnings(s.Kind, secrets),
		})
	}
	return routes, nil
}

// NewSource builds the verifier of one configured source by its kind.
func NewSource(s *config.Source, lookup config.SecretLookup) (webhook.Source, error) {
	secrets, err := s.Secrets(lookup)
	if err != nil {
		return nil, err
	}
	return newSource(s, secrets)
}

func newSource(s *config.Source, secrets []string) (webhook.Source, error) {
	var (
		src webhook.Source
		err error
	)
	switch s.Kind {
	case webhook.KindHasura:
		hc := hasura.Config{Name: s.Name, Header: s.Header, Secrets: secrets}
		if rows := s.Rows(); rows != nil {
			hc.Rows = rows
		}
		src, err = hasura.New(hc)
	case webhook.KindStripe:
		src, err = webhook.NewStripe(webhook.StripeConfig{Secrets: secrets, Tolerance: s.Tolerance.Std()})
	case webhook.KindGitHub:
		src, err = webhook.NewGitHub(webhook.GitHubConfig{Secrets: secrets})
	case webhook.KindShopify:
		src, err = webhook.NewShopify(webhook.ShopifyConfig{Secrets: secrets})
	case webhook.KindSlack:
		src, err = webhook.NewSlack(webhook.SlackConfig{Secrets: secrets, Tolerance: s.Tolerance.Std()})
	case webhook.KindStandardWebhooks:
		src, err = webhook.NewStandardWebhooks(webhook.StandardWebhooksConfig{Secrets: secrets, Tolerance: s.Tolerance.Std()})
	case webhook.KindHMAC:
		src, err = webhook.NewHMAC(s.HMACConfig(secrets))
	default:
		return nil, fmt.Errorf("source %q: kind %q is not available", s.Name, s.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", s.Name, err)
	}
	return src, nil
}
