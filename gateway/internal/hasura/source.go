package hasura

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hookmesh/hookmesh/gateway/internal/webhook"
)

// DefaultHeader is the secret header of the demo config and Hasura's docs recipes.
const DefaultHeader = "X-Hasura-Webhook-Secret"

// Config configures one hasura source.
type Config struct {
	Name    string   // configured source name, the events' source
	Header  string   // secret header; default DefaultHeader
	Secrets []string // accepted secrets (rotation); at least one non-empty
}

// Validate reports a config that cannot authenticate anything.
func (c *Config) Validate() error {
	if c.Name == "" {
		return errors.New("hasura source: name is required")
	}
	if http.CanonicalHeaderKey(c.Header) == "" {
		return fmt.Errorf("hasura source %q: header is required", c.Name)
	}
	for _, s := range c.Secrets {
		if s != "" {
			return nil
		}
	}
	return fmt.Errorf("hasura source %q: no secret configured", c.Name)
}

// Source is the hasura source kind: event-trigger and scheduled bodies alike,
// authenticated by a shared-secret header (Hasura signs nothing).
type Source struct {
	name   string
	secret webhook.SharedSecret
}

var _ webhook.Source = (*Source)(nil)

// New builds a hasura source.
func New(cfg Config) (*Source, error) {
	if cfg.Header == "" {
		cfg.Header = DefaultHeader
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Source{name: cfg.Name, secret: webhook.SharedSecret{Header: cfg.Header, Secrets: cfg.Secrets}}, nil
}

// Verify checks the secret header; Hasura bodies carry no timestamp to check.
func (s *Source) Verify(req *webhook.Request, _ time.Time) error {
	return s.secret.Verify(req)
}

// Normalize decodes the body into an event.
func (s *Source) Normalize(req *webhook.Request) (webhook.Result, error) {
	ev, err := Decode(s.name, req.Body)
	if err != nil {
		return webhook.Result{}, err
	}
	return webhook.Result{Event: ev}, nil
}

// AcceptsContentType takes what Hasura sends (application/json) and no content type
// at all, which a request transform may leave behind; anything else is not a body
// this source can read.
func (s *Source) AcceptsContentType(mediaType string) bool {
	return mediaType == "" || mediaType == "application/json"
}

// BodyTraceparent is the sender's trace context carried in the body
// (event.trace_context), used when no trace header came with the request.
func (s *Source) BodyTraceparent(body []byte) string { return BodyTraceparent(body) }
