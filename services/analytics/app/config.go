// Package app wires the analytics service: the store (SQLite or PostgreSQL), the
// group committer, the consumer and the read API; Run serves them as a process.
package app

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/hookmesh/hookmesh/platform/envconfig"
	"github.com/hookmesh/hookmesh/platform/grpcauth"
	"github.com/hookmesh/hookmesh/services/analytics/internal/analytics"
)

// Config is the analytics service's configuration, loaded from the environment
// (platform/envconfig). Messages about it name the variable, never the value.
type Config struct {
	// DatabaseURL selects PostgreSQL for this service; it wins over DATABASE_URL.
	DatabaseURL string `env:"ANALYTICS_DATABASE_URL" secret:"true"`
	// SharedDatabaseURL is the PostgreSQL URL shared by every service.
	SharedDatabaseURL string `env:"DATABASE_URL" secret:"true"`
	// DatabaseSchema keeps this service's tables apart in a shared database.
	DatabaseSchema string `env:"ANALYTICS_DATABASE_SCHEMA" default:"analytics"`
	// DataDir holds analytics.db when no database URL is set.
	DataDir string `env:"HOOKMESH_DATA_DIR" default:"./hookmesh-data"`
	// GRPCAddr serves EventConsumerService, AnalyticsService and health.
	GRPCAddr string `env:"ANALYTICS_GRPC_ADDR" default:"127.0.0.1:9102"`
	// HTTPAddr serves the REST read API (/v1/analytics/...), /healthz and
	// /metrics; empty disables it.
	HTTPAddr string `env:"ANALYTICS_HTTP_ADDR" default:"127.0.0.1:8102"`
	// ServiceToken (SERVICE_TOKEN) is the bearer token Deliver and
	// AnalyticsService require, on gRPC and REST; required when a listener is
	// not on loopback.
	ServiceToken string `env:"SERVICE_TOKEN" secret:"true"`
	// GRPCTLS serves ANALYTICS_GRPC_ADDR with TLS (GRPC_TLS_*).
	GRPCTLS grpcauth.ServerTLS
	// BatchSize is the most events committed in one transaction.
	BatchSize int `env:"ANALYTICS_BATCH_SIZE" default:"256"`
	// FlushInterval is how long an idle writer waits for more events before it
	// commits a partial batch. 0 commits at once; a busy writer never waits (what
	// arrived during a commit goes in the next one as soon as it finishes).
	FlushInterval time.Duration `env:"ANALYTICS_FLUSH_INTERVAL" default:"0s"`
	// Retention is how long raw events are kept; cron.cleanup deletes older ones.
	// Hourly counts and active users are kept.
	Retention time.Duration `env:"ANALYTICS_RETENTION" default:"2160h"`
}

func (c *Config) setDefaults() {
	if c.DatabaseSchema == "" {
		c.DatabaseSchema = "analytics"
	}
	if c.DataDir == "" {
		c.DataDir = envconfig.DefaultDataDir
	}
	if c.BatchSize == 0 {
		c.BatchSize = 256
	}
	if c.Retention == 0 {
		c.Retention = analytics.DefaultRetention
	}
}

// maxBatchSize keeps one transaction's statements and parameters modest.
const maxBatchSize = 10000

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.BatchSize < 1 || c.BatchSize > maxBatchSize {
		errs = append(errs, fmt.Errorf("ANALYTICS_BATCH_SIZE must be between 1 and %d", maxBatchSize))
	}
	if c.FlushInterval < 0 || c.FlushInterval > time.Minute {
		errs = append(errs, errors.New("ANALYTICS_FLUSH_INTERVAL must be between 0 and 1m"))
	}
	if c.Retention < time.Hour {
		errs = append(errs, errors.New("ANALYTICS_RETENTION must be at least 1h"))
	}
	if c.databaseURL() == "" && c.DataDir == "" {
		errs = append(errs, errors.New("HOOKMESH_DATA_DIR is required without a database URL"))
	}
	if err := c.GRPCTLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c Config) databaseURL() string {
	if c.DatabaseURL != "" {
		return c.DatabaseURL
	}
	return c.SharedDatabaseURL
}

func (c Config) sqlitePath() string { return filepath.Join(c.DataDir, "analytics.db") }
