// Package app wires the email service: storage, templates, the transport (SMTP
// or the outbox), the analytics report source, the consumer and the read API.
package app

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/hookmesh/hookmesh/platform/envconfig"
	"github.com/hookmesh/hookmesh/platform/grpcauth"
	"github.com/hookmesh/hookmesh/services/email/internal/smtp"
)

// Config is the email service's configuration, loaded from the environment
// (platform/envconfig). Messages about it name the variable, never the value.
type Config struct {
	// From is the sender of every message, "Name <address>" or a bare address;
	// its domain also names the Message-IDs.
	From string `env:"EMAIL_FROM" default:"hookmesh <noreply@hookmesh.localhost>"`
	// TokenSecret signs verification links (HMAC-SHA256, at least 16 bytes).
	// Unset on SQLite (the embedded default): generated once into the data dir.
	// Required with a database URL, so every replica signs alike.
	TokenSecret string `env:"EMAIL_TOKEN_SECRET" secret:"true"`
	// TokenTTL is how long a verification link stays valid.
	TokenTTL time.Duration `env:"EMAIL_TOKEN_TTL" default:"48h"`
	// ReportRecipients receive the daily and weekly reports (comma-separated);
	// without them, report events fail with FAILED_PRECONDITION.
	ReportRecipients []string `env:"EMAIL_REPORT_RECIPIENTS"`
	// SMTPURL is smtp://user:pass@host:port?starttls=required|opportunistic|off
	// (or smtps://); unset writes messages to the outbox in the data dir.
	SMTPURL string `env:"SMTP_URL" secret:"true"`
	// DatabaseURL selects PostgreSQL for this service; it wins over DATABASE_URL.
	DatabaseURL string `env:"EMAIL_DATABASE_URL" secret:"true"`
	// SharedDatabaseURL is the PostgreSQL URL shared by every service.
	SharedDatabaseURL string `env:"DATABASE_URL" secret:"true"`
	// DatabaseSchema keeps this service's tables apart in a shared database.
	DatabaseSchema string `env:"EMAIL_DATABASE_SCHEMA" default:"email"`
	// DataDir holds email.db, the outbox/ directory and a generated token secret.
	DataDir string `env:"HOOKMESH_DATA_DIR" default:"./hookmesh-data"`
	// GRPCAddr serves EventConsumerService, EmailService and health.
	GRPCAddr string `env:"EMAIL_GRPC_ADDR" default:"127.0.0.1:9101"`
	// HTTPAddr serves the REST read API (/v1/email/...), /healthz and /metrics;
	// empty disables it.
	HTTPAddr string `env:"EMAIL_HTTP_ADDR" default:"127.0.0.1:8101"`
	// AdminToken, when set, is accepted (besides SERVICE_TOKEN) as a bearer
	// token for the message list on EMAIL_HTTP_ADDR (GET /v1/email/verify stays
	// public); one of the two is required when that listener is not on loopback.
	AdminToken string `env:"HOOKMESH_ADMIN_TOKEN" secret:"true"`
	// ServiceToken (SERVICE_TOKEN) is the bearer token Deliver and EmailService
	// require, on gRPC and REST (the verification link stays public); required
	// when a listener is not on loopback.
	ServiceToken string `env:"SERVICE_TOKEN" secret:"true"`
	// GRPCTLS serves EMAIL_GRPC_ADDR with TLS (GRPC_TLS_*).
	GRPCTLS grpcauth.ServerTLS
	// AnalyticsToken is the analytics service's SERVICE_TOKEN, sent on the
	// report calls to ANALYTICS_ADDR.
	AnalyticsToken string `env:"ANALYTICS_TOKEN" secret:"true"`
	// AnalyticsTLS dials ANALYTICS_ADDR with TLS when a CA file or a client
	// certificate is set (analytics' GRPC_TLS_* on its side).
	AnalyticsTLSCAFile     string `env:"ANALYTICS_TLS_CA_FILE"`
	AnalyticsTLSCertFile   string `env:"ANALYTICS_TLS_CERT_FILE"`
	AnalyticsTLSKeyFile    string `env:"ANALYTICS_TLS_KEY_FILE"`
	AnalyticsTLSServerName string `env:"ANALYTICS_TLS_SERVER_NAME"`
	// AnalyticsAddr is the analytics service's gRPC address (host:port or
	// dns:///…), dialled when Deps.Analytics is nil. Unset: no report source.
	AnalyticsAddr string `env:"ANALYTICS_ADDR"`
	// PublicURL is where users reach GET /v1/email/verify (the gateway's REST
	// front door in the embedded default).
	PublicURL string `env:"EMAIL_PUBLIC_URL" default:"http://127.0.0.1:8090"`
	// SendLease bounds one send attempt; a message whose sender died is sent
	// again (same Message-ID) after it.
	SendLease time.Duration `env:"EMAIL_SEND_LEASE" default:"2m"`
}

func (c *Config) setDefaults() {
	if c.From == "" {
		c.From = "hookmesh <noreply@hookmesh.localhost>"
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = 48 * time.Hour
	}
	if c.DatabaseSchema == "" {
		c.DatabaseSchema = "email"
	}
	if c.DataDir == "" {
		c.DataDir = envconfig.DefaultDataDir
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://127.0.0.1:8090"
	}
	if c.SendLease == 0 {
		c.SendLease = 2 * time.Minute
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	var errs []error
	if _, err := c.from(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.recipients(); err != nil {
		errs = append(errs, err)
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, errors.New("EMAIL_PUBLIC_URL must be an http(s) URL"))
	}
	if c.SMTPURL != "" {
		if sc, err := smtp.ParseURL(c.SMTPURL); err != nil {
			errs = append(errs, errors.New("SMTP_URL is not a valid smtp:// or smtps:// URL"))
		} else if _, err := smtp.New(sc); err != nil {
			errs = append(errs, fmt.Errorf("SMTP_URL: %w", err))
		}
	}
	if c.TokenSecret != "" && len(c.TokenSecret) < 16 {
		errs = append(errs, errors.New("EMAIL_TOKEN_SECRET must be at least 16 bytes"))
	}
	if c.TokenSecret == "" && c.databaseURL() != "" {
		errs = append(errs, errors.New("EMAIL_TOKEN_SECRET is required with EMAIL_DATABASE_URL or DATABASE_URL (every replica must sign links alike)"))
	}
	if c.TokenTTL <= 0 {
		errs = append(errs, errors.New("EMAIL_TOKEN_TTL must be positive"))
	}
	if c.SendLease < 10*time.Second {
		errs = append(errs, errors.New("EMAIL_SEND_LEASE must be at least 10s"))
	}
	if c.GRPCAddr == "" {
		errs = append(errs, errors.New("EMAIL_GRPC_ADDR is required"))
	}
	if (c.AnalyticsTLSCertFile == "") != (c.AnalyticsTLSKeyFile == "") {
		errs = append(errs, errors.New("ANALYTICS_TLS_CERT_FILE and ANALYTICS_TLS_KEY_FILE are set together"))
	}
	if err := c.GRPCTLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.databaseURL() == "" && c.DataDir == "" {
		errs = append(errs, errors.New("HOOKMESH_DATA_DIR is required without a database URL"))
	}
	return errors.Join(errs...)
}

// validateHTTP checks the settings only the standalone HTTP listener uses.
func (c Config) validateHTTP() error {
	if c.HTTPAddr != "" && c.AdminToken == "" && c.ServiceToken == "" && !loopback(c.HTTPAddr) {
		return errors.New("SERVICE_TOKEN or HOOKMESH_ADMIN_TOKEN is required when EMAIL_HTTP_ADDR is not a loopback address")
	}
	return nil
}

// loopback reports whether a listen address is on loopback only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c Config) from() (mail.Address, error) {
	a, err := mail.ParseAddress(c.From)
	if err != nil || !strings.Contains(a.Address, "@") {
		return mail.Address{}, errors.New("EMAIL_FROM must be an address, e.g. \"Shop <noreply@shop.example>\"")
	}
	return *a, nil
}

func (c Config) recipients() ([]mail.Address, error) {
	var out []mail.Address
	for i, r := range c.ReportRecipients {
		if strings.TrimSpace(r) == "" {
			continue
		}
		a, err := mail.ParseAddress(r)
		if err != nil {
			return nil, fmt.Errorf("EMAIL_REPORT_RECIPIENTS: entry %d is not an address", i+1)
		}
		out = append(out, *a)
	}
	return out, nil
}

func (c Config) databaseURL() string {
	if c.DatabaseURL != "" {
		return c.DatabaseURL
	}
	return c.SharedDatabaseURL
}

// analyticsCreds is the transport of the ANALYTICS_ADDR connection.
func (c Config) analyticsCreds() (grpc.DialOption, error) {
	t := grpcauth.ClientTLS{CAFile: c.AnalyticsTLSCAFile, CertFile: c.AnalyticsTLSCertFile, KeyFile: c.AnalyticsTLSKeyFile, ServerName: c.AnalyticsTLSServerName}
	creds, err := t.DialCredentials(t.CAFile != "" || t.CertFile != "")
	if err != nil {
		return nil, fmt.Errorf("ANALYTICS_TLS_*: %w", err)
	}
	return creds, nil
}

func (c Config) sqlitePath() string { return filepath.Join(c.DataDir, "email.db") }
func (c Config) outboxDir() string  { return filepath.Join(c.DataDir, "outbox") }
func (c Config) secretPath() string { return filepath.Join(c.DataDir, "email-token-secret") }
