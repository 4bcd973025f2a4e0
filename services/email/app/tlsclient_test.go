package app

import (
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hookmesh/hookmesh/platform/grpcauth"
	"github.com/hookmesh/hookmesh/platform/grpcauth/grpcauthtest"
	"github.com/hookmesh/hookmesh/platform/grpcserver"
)

// The ANALYTICS_ADDR connection speaks (mutual) TLS when ANALYTICS_TLS_* are set.
func TestAnalyticsTLS(t *testing.T) {
	certs := grpcauthtest.New(t)
	opts, err := grpcauth.ServerTLS{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, ClientCAFile: certs.CAFile}.ServerOptions()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := grpcserver.New(grpcserver.Config{Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(t.Context(), lis) }()
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	check := func(cfg Config) error {
		creds, err := cfg.analyticsCreds()
		if err != nil {
			return err
		}
		conn, err := grpc.NewClient(lis.Addr().String(), creds)
		if err != nil {
			return err
		}
		defer func() { _ = conn.Close() }()
		_, err = healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
		return err
	}
	if err := check(Config{AnalyticsTLSCAFile: certs.CAFile, AnalyticsTLSCertFile: certs.ClientCert, AnalyticsTLSKeyFile: certs.ClientKey, AnalyticsTLSServerName: grpcauthtest.ServerName}); err != nil {
		t.Fatalf("mutual TLS: %v", err)
	}
	if err := check(Config{}); err == nil {
		t.Fatal("plaintext reached a TLS server")
	}
	if err := check(Config{AnalyticsTLSCAFile: certs.CAFile}); err == nil {
		t.Fatal("no client certificate under mutual TLS")
	}
	cfg := Config{AnalyticsTLSKeyFile: certs.ClientKey}
	cfg.setDefaults()
	cfg.GRPCAddr = "127.0.0.1:0"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "ANALYTICS_TLS_CERT_FILE and ANALYTICS_TLS_KEY_FILE") {
		t.Fatalf("Validate: %v", err)
	}
}
