package hasura

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/hookmesh/hookmesh/gateway/internal/webhook"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// DefaultHeader is the secret header of the demo config and Hasura's docs recipes.
const DefaultHeader = "X-Hasura-Webhook-Secret"

// Config configures one hasura source.
type Config struct {
	Name    string   // configured source name, the events' source
	Header  string   // secret header; default DefaultHeader
	Secrets []string // accepted secrets (rotation); at least one non-empty
	Rows    RowTyper // typed rows of mapped tables (the source's tables: key); nil: none
}

// RowTyper converts a table row into its mapped message (typedrows.Converter):
// nil for an unmapped table, an error naming the column when the row does not fit.
type RowTyper interface {
	Convert(schema, table string, row *structpb.Struct) (*anypb.Any, error)
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
	rows   RowTyper
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
	return &Source{name: cfg.Name, secret: webhook.SharedSecret{Header: cfg.Header, Secrets: cfg.Secrets}, rows: cfg.Rows}, nil
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
	if ht := ev.GetHasuraTable(); ht != nil && s.rows != nil {
		if err := typeRows(s.rows, ht); err != nil {
			return webhook.Result{}, err
		}
	}
	return webhook.Result{Event: ev}, nil
}

// typeRows fills typed_old / typed_new; a row that does not fit is refused (400
// invalid_payload naming the column) rather than stored half-typed.
func typeRows(rows RowTyper, ht *eventv1.HasuraTableEvent) error {
	var err error
	if ht.TypedOld, err = rows.Convert(ht.GetSchema(), ht.GetTable(), ht.GetOld()); err != nil {
		return invalid("event.data.old does not fit the table's message: " + err.Error())
	}
	if ht.TypedNew, err = rows.Convert(ht.GetSchema(), ht.GetTable(), ht.GetNew()); err != nil {
		return invalid("event.data.new does not fit the table's message: " + err.Error())
	}
	return nil
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
