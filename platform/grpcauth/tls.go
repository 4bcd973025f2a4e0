package grpcauth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// ServerTLS is the TLS of a gRPC listener, from the environment of the
// process that serves it (the gateway's gRPC API, each service's gRPC port).
// Unset (no certificate) serves plaintext, for loopback and private networks.
type ServerTLS struct {
	// CertFile and KeyFile are the server's PEM certificate chain and key.
	CertFile string `env:"GRPC_TLS_CERT_FILE"`
	KeyFile  string `env:"GRPC_TLS_KEY_FILE"`
	// ClientCAFile, when set, requires every client to present a certificate
	// signed by one of its PEM CAs (mutual TLS); health checks too.
	ClientCAFile string `env:"GRPC_TLS_CLIENT_CA_FILE"`
}

// Enabled reports whether a certificate is configured.
func (t ServerTLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Validate reports settings that cannot work, naming the variables.
func (t ServerTLS) Validate() error {
	switch {
	case (t.CertFile == "") != (t.KeyFile == ""):
		return errors.New("GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE are set together")
	case t.ClientCAFile != "" && t.CertFile == "":
		return errors.New("GRPC_TLS_CLIENT_CA_FILE needs GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE")
	}
	return nil
}

// Config is the server's tls.Config (TLS 1.2 or later); nil when not Enabled.
func (t ServerTLS) Config() (*tls.Config, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if !t.Enabled() {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("GRPC_TLS_CERT_FILE/GRPC_TLS_KEY_FILE: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if t.ClientCAFile != "" {
		if cfg.ClientCAs, err = certPool(t.ClientCAFile, "client ca file"); err != nil {
			return nil, fmt.Errorf("GRPC_TLS_CLIENT_CA_FILE: %w", err)
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// ServerOptions are the grpc.Creds option for t; none when not Enabled.
func (t ServerTLS) ServerOptions() ([]grpc.ServerOption, error) {
	cfg, err := t.Config()
	if err != nil || cfg == nil {
		return nil, err
	}
	return []grpc.ServerOption{grpc.Creds(credentials.NewTLS(cfg))}, nil
}

// SelfDial is the transport credential with which a process calls its own
// listener (its REST front door, its health subcommand): plaintext when not
// Enabled; otherwise TLS without verifying the server (the process dials the
// address it listens on) and, under mutual TLS, presenting the server's own
// certificate, which must then allow client authentication too.
func (t ServerTLS) SelfDial() (grpc.DialOption, error) {
	cfg, err := t.Config()
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return grpc.WithTransportCredentials(insecure.NewCredentials()), nil
	}
	//nolint:gosec // the process dials its own listener; there is no one else to verify.
	client := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}
	if t.ClientCAFile != "" {
		client.Certificates = cfg.Certificates
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(client)), nil
}

// ClientTLS is how a dialer verifies a TLS server and, for mutual TLS,
// which certificate it presents: the dispatcher's per-subscription `tls`.
type ClientTLS struct {
	// CAFile holds the PEM CAs trusted for the server; empty uses the system's.
	CAFile string
	// CertFile and KeyFile are the client certificate for mutual TLS.
	CertFile, KeyFile string
	// ServerName overrides the name checked in the server's certificate.
	ServerName string
}

// Config is the client tls.Config (TLS 1.2 or later).
func (c ClientTLS) Config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CAFile != "" {
		pool, err := certPool(c.CAFile, "ca file")
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if c.CertFile != "" || c.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Credentials is the TLS transport credential of c.
func (c ClientTLS) Credentials() (grpc.DialOption, error) {
	cfg, err := c.Config()
	if err != nil {
		return nil, err
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(cfg)), nil
}

// DialCredentials is plaintext when on is false, else c's TLS: for a client
// whose TLS is switched on by its settings (a CA file or a client certificate).
func (c ClientTLS) DialCredentials(on bool) (grpc.DialOption, error) {
	if !on {
		return grpc.WithTransportCredentials(insecure.NewCredentials()), nil
	}
	return c.Credentials()
}

func certPool(file, what string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s holds no PEM certificate", what, file)
	}
	return pool, nil
}
