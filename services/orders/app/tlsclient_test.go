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

// The PUBLISHER_ADDR connection speaks (mutual) TLS when PUBLISHER_TLS_* are set.
func TestPublisherTLS(t *testing.T) {
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
		creds, err := cfg.publisherCreds()
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
	if err := check(Config{PublisherTLSCAFile: certs.CAFile, PublisherTLSCertFile: certs.ClientCert, PublisherTLSKeyFile: certs.ClientKey}); err != nil {
		t.Fatalf("mutual TLS: %v", err)
	}
	if err := check(Config{}); err == nil {
		t.Fatal("plaintext reached a TLS server")
	}
	if err := check(Config{PublisherTLSCAFile: certs.ClientKey}); err == nil || !strings.Contains(err.Error(), "PUBLISHER_TLS_") {
		t.Fatalf("a CA file without a certificate: %v", err)
	}
	err = Config{PublisherTLSCertFile: certs.ClientCert, FulfillmentMaxAttempts: 1, FulfillmentBackoffInitial: 1, FulfillmentBackoffMax: 1}.Validate()
	if err == nil || !strings.Contains(err.Error(), "PUBLISHER_TLS_CERT_FILE and PUBLISHER_TLS_KEY_FILE") {
		t.Fatalf("Validate: %v", err)
	}
}
