// Package app wires the orders service: storage, the event consumer, the read
// API, the publish outbox and the fulfillment webhook sender.
package app

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/hookmesh/hookmesh/platform/envconfig"
	"github.com/hookmesh/hookmesh/platform/grpcauth"
)

// Config is the orders service's configuration, loaded from the environment.
type Config struct {
	// DatabaseURL selects PostgreSQL for this service; it wins over DATABASE_URL.
	DatabaseURL string `env:"ORDERS_DATABASE_URL" secret:"true"`
	// SharedDatabaseURL is the PostgreSQL URL shared by every service.
	SharedDatabaseURL string `env:"DATABASE_URL" secret:"true"`
	// DatabaseSchema is the PostgreSQL schema of this service's tables, so that
	// services sharing one database keep their tables and migrations apart.
	DatabaseSchema string `env:"ORDERS_DATABASE_SCHEMA" default:"orders"`
	// DataDir holds the SQLite file (orders.db) when no database URL is set.
	DataDir string `env:"HOOKMESH_DATA_DIR" default:"./hookmesh-data"`
	// GRPCAddr serves EventConsumerService, OrdersService and health.
	GRPCAddr string `env:"ORDERS_GRPC_ADDR" default:"127.0.0.1:9103"`
	// HTTPAddr serves the REST read API (/v1/orders/...) and /healthz; empty disables it.
	HTTPAddr string `env:"ORDERS_HTTP_ADDR" default:"127.0.0.1:8103"`
	// ServiceToken (SERVICE_TOKEN) is the bearer token Deliver and
	// OrdersService require, on gRPC and REST; required when a listener is not
	// on loopback.
	ServiceToken string `env:"SERVICE_TOKEN" secret:"true"`
	// GRPCTLS serves ORDERS_GRPC_ADDR with TLS (GRPC_TLS_*).
	GRPCTLS grpcauth.ServerTLS
	// FulfillmentWebhookURL receives the signed shipment webhooks; empty keeps
	// them pending in the outbox (visible through the read API) until it is set.
	FulfillmentWebhookURL string `env:"FULFILLMENT_WEBHOOK_URL"`
	// FulfillmentWebhookSecret signs them, whsec_<base64>; required with the URL.
	FulfillmentWebhookSecret string `env:"FULFILLMENT_WEBHOOK_SECRET" secret:"true"`
	// FulfillmentMaxAttempts before a notification is marked failed.
	FulfillmentMaxAttempts int `env:"FULFILLMENT_MAX_ATTEMPTS" default:"10"`
	// FulfillmentBackoffInitial is the wait after the first failed attempt; it doubles.
	FulfillmentBackoffInitial time.Duration `env:"FULFILLMENT_BACKOFF_INITIAL" default:"2s"`
	// FulfillmentBackoffMax caps the wait between attempts.
	FulfillmentBackoffMax time.Duration `env:"FULFILLMENT_BACKOFF_MAX" default:"10m"`
	// PublisherAddr is the gateway's PublisherService (host:port or dns:///…),
	// used when Deps.Publisher is nil.
	PublisherAddr string `env:"PUBLISHER_ADDR"`
	// PublisherToken is orders' publisher token at the gateway (its
	// `publishers:` entry, restricted to orders.* types; or the gateway's
	// HOOKMESH_ADMIN_TOKEN), sent as a bearer token to PublisherService;
	// required when the gateway has an admin token.
	PublisherToken string `env:"PUBLISHER_TOKEN" secret:"true"`
	// PublisherTLS dials PUBLISHER_ADDR with TLS when a CA file or a client
	// certificate is set (the gateway's GRPC_TLS_* on its side).
	PublisherTLSCAFile     string `env:"PUBLISHER_TLS_CA_FILE"`
	PublisherTLSCertFile   string `env:"PUBLISHER_TLS_CERT_FILE"`
	PublisherTLSKeyFile    string `env:"PUBLISHER_TLS_KEY_FILE"`
	PublisherTLSServerName string `env:"PUBLISHER_TLS_SERVER_NAME"`
	// SeedCatalogue loads the demo catalogue into stock at first start: "true",
	// "false" or "auto" (true on SQLite, the embedded default; false on PostgreSQL).
	SeedCatalogue string `env:"ORDERS_SEED_CATALOGUE" default:"auto"`
}

func (c *Config) setDefaults() {
	if c.DatabaseSchema == "" {
		c.DatabaseSchema = "orders"
	}
	if c.DataDir == "" {
		c.DataDir = envconfig.DefaultDataDir
	}
	if c.FulfillmentMaxAttempts == 0 {
		c.FulfillmentMaxAttempts = 10
	}
	if c.FulfillmentBackoffInitial == 0 {
		c.FulfillmentBackoffInitial = 2 * time.Second
	}
	if c.FulfillmentBackoffMax == 0 {
		c.FulfillmentBackoffMax = 10 * time.Minute
	}
	if c.SeedCatalogue == "" {
		c.SeedCatalogue = "auto"
	}
}

// Validate reports a configuration that cannot work. Messages name the
// variable, never its value.
func (c Config) Validate() error {
	var errs []error
	if c.FulfillmentWebhookURL != "" {
		u, err := url.Parse(c.FulfillmentWebhookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New("FULFILLMENT_WEBHOOK_URL must be an http(s) URL"))
		}
		if c.FulfillmentWebhookSecret == "" {
			errs = append(errs, errors.New("FULFILLMENT_WEBHOOK_SECRET is required with FULFILLMENT_WEBHOOK_URL"))
		}
	}
	if c.FulfillmentMaxAttempts < 1 {
		errs = append(errs, errors.New("FULFILLMENT_MAX_ATTEMPTS must be at least 1"))
	}
	if c.FulfillmentBackoffInitial <= 0 || c.FulfillmentBackoffMax < c.FulfillmentBackoffInitial {
		errs = append(errs, errors.New("FULFILLMENT_BACKOFF_INITIAL must be positive and at most FULFILLMENT_BACKOFF_MAX"))
	}
	if _, err := c.seed(); err != nil {
		errs = append(errs, err)
	}
	if (c.PublisherTLSCertFile == "") != (c.PublisherTLSKeyFile == "") {
		errs = append(errs, errors.New("PUBLISHER_TLS_CERT_FILE and PUBLISHER_TLS_KEY_FILE are set together"))
	}
	if err := c.GRPCTLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("orders config: %w", err)
	}
	return nil
}

// databaseURL is ORDERS_DATABASE_URL, else DATABASE_URL; empty means SQLite.
func (c Config) databaseURL() string {
	if c.DatabaseURL != "" {
		return c.DatabaseURL
	}
	return c.SharedDatabaseURL
}

// publisherCreds is the transport of the PUBLISHER_ADDR connection.
func (c Config) publisherCreds() (grpc.DialOption, error) {
	t := grpcauth.ClientTLS{CAFile: c.PublisherTLSCAFile, CertFile: c.PublisherTLSCertFile, KeyFile: c.PublisherTLSKeyFile, ServerName: c.PublisherTLSServerName}
	creds, err := t.DialCredentials(t.CAFile != "" || t.CertFile != "")
	if err != nil {
		return nil, fmt.Errorf("PUBLISHER_TLS_*: %w", err)
	}
	return creds, nil
}

func (c Config) sqlitePath() string { return filepath.Join(c.DataDir, "orders.db") }

func (c Config) seed() (bool, error) {
	switch strings.ToLower(strings.TrimSpace(c.SeedCatalogue)) {
	case "auto", "":
		return c.databaseURL() == "", nil
	}
	b, err := strconv.ParseBool(c.SeedCatalogue)
	if err != nil {
		return false, errors.New("ORDERS_SEED_CATALOGUE must be true, false or auto")
	}
	return b, nil
}
