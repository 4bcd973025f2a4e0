package grpcauth_test

import (
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	"github.com/hookmesh/hookmesh/platform/grpcauth"
	"github.com/hookmesh/hookmesh/platform/grpcauth/grpcauthtest"
	"github.com/hookmesh/hookmesh/platform/grpcserver"
	"github.com/hookmesh/hookmesh/platform/grpcserver/grpcservertest"
)

// startTLS serves EventConsumerService over st and returns its address.
func startTLS(t *testing.T, st grpcauth.ServerTLS) string {
	t.Helper()
	opts, err := st.ServerOptions()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := grpcserver.New(grpcserver.Config{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	consumerv1.RegisterEventConsumerServiceServer(srv.GRPC(), consumer{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(t.Context(), lis) }() // t.Context ends before the cleanups run
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return lis.Addr().String()
}

func clientCreds(t *testing.T, c grpcauth.ClientTLS) grpc.DialOption {
	t.Helper()
	cfg, err := c.Config()
	if err != nil {
		t.Fatal(err)
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(cfg))
}

func deliver(t *testing.T, addr string, opts ...grpc.DialOption) error {
	t.Helper()
	_, err := consumerv1.NewEventConsumerServiceClient(grpcservertest.MustDial(t, addr, opts...)).Deliver(testCtx(t), &consumerv1.DeliverRequest{})
	return err
}

func TestServerTLS(t *testing.T) {
	certs := grpcauthtest.New(t)
	addr := startTLS(t, grpcauth.ServerTLS{CertFile: certs.ServerCert, KeyFile: certs.ServerKey})
	if err := deliver(t, addr, clientCreds(t, grpcauth.ClientTLS{CAFile: certs.CAFile})); err != nil {
		t.Fatalf("TLS client: %v", err)
	}
	if err := deliver(t, addr, clientCreds(t, grpcauth.ClientTLS{CAFile: certs.CAFile, ServerName: grpcauthtest.ServerName})); err != nil {
		t.Fatalf("TLS client with server_name: %v", err)
	}
	if err := deliver(t, addr); status.Code(err) != codes.Unavailable {
		t.Fatalf("plaintext client: %v, want Unavailable", err)
	}
	if err := deliver(t, addr, clientCreds(t, grpcauth.ClientTLS{})); status.Code(err) != codes.Unavailable {
		t.Fatalf("client not trusting the test CA: %v, want Unavailable", err)
	}
	if err := deliver(t, addr, clientCreds(t, grpcauth.ClientTLS{CAFile: certs.CAFile, ServerName: "other.example"})); status.Code(err) != codes.Unavailable {
		t.Fatalf("wrong server name: %v, want Unavailable", err)
	}
	self, err := grpcauth.ServerTLS{CertFile: certs.ServerCert, KeyFile: certs.ServerKey}.SelfDial()
	if err != nil {
		t.Fatal(err)
	}
	if err := deliver(t, addr, self); err != nil {
		t.Fatalf("self dial: %v", err)
	}
}

func TestMutualTLS(t *testing.T) {
	certs := grpcauthtest.New(t)
	st := grpcauth.ServerTLS{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, ClientCAFile: certs.CAFile}
	addr := startTLS(t, st)
	if err := deliver(t, addr, clientCreds(t, grpcauth.ClientTLS{CAFile: certs.CAFile, CertFile: certs.ClientCert, KeyFile: certs.ClientKey})); err != nil {
		t.Fatalf("client with certificate: %v", err)
	}
	if err := deliver(t, addr, clientCreds(t, grpcauth.ClientTLS{CAFile: certs.CAFile})); status.Code(err) != codes.Unavailable {
		t.Fatalf("client without certificate: %v, want Unavailable", err)
	}
	// Health checks need the certificate too: the health subcommand self-dials.
	self, err := st.SelfDial()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := healthpb.NewHealthClient(grpcservertest.MustDial(t, addr, self)).Check(testCtx(t), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("self-dialled health: %v %v", resp.GetStatus(), err)
	}
}

func TestServerTLSErrors(t *testing.T) {
	certs := grpcauthtest.New(t)
	junk := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(junk, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tls  grpcauth.ServerTLS
		want string
	}{
		{"cert without key", grpcauth.ServerTLS{CertFile: certs.ServerCert}, "GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE"},
		{"client CA without cert", grpcauth.ServerTLS{ClientCAFile: certs.CAFile}, "GRPC_TLS_CLIENT_CA_FILE needs"},
		{"unreadable pair", grpcauth.ServerTLS{CertFile: junk, KeyFile: junk}, "GRPC_TLS_CERT_FILE/GRPC_TLS_KEY_FILE"},
		{"client CA not PEM", grpcauth.ServerTLS{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, ClientCAFile: junk}, "no PEM certificate"},
		{"client CA missing", grpcauth.ServerTLS{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, ClientCAFile: junk + ".none"}, "GRPC_TLS_CLIENT_CA_FILE: read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.tls.ServerOptions(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		tls  grpcauth.ClientTLS
		want string
	}{
		{"missing ca", grpcauth.ClientTLS{CAFile: junk + ".none"}, "ca file"},
		{"ca not pem", grpcauth.ClientTLS{CAFile: junk}, "no PEM certificate"},
		{"key without cert", grpcauth.ClientTLS{KeyFile: certs.ClientKey}, "load client certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.tls.Config(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// Unset: plaintext, no options.
	if opts, err := (grpcauth.ServerTLS{}).ServerOptions(); err != nil || len(opts) != 0 {
		t.Fatalf("unset: %v %v", opts, err)
	}
}
