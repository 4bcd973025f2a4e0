package dispatch

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	"github.com/hookmesh/hookmesh/platform/eventually"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, cert tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "consumer"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"consumer.test"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

// TestTargets delivers through each kind of target: host:port, dns:/// with
// round-robin, TLS, and builtin by address.
func TestTargets(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	certFile, _, cert := selfSigned(t, dir)

	plain := &testConsumer{fx: newEffects()}
	plainAddr, _ := serve(t, plain, "127.0.0.1:0")
	secure := &testConsumer{fx: newEffects()}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})))
	consumerv1.RegisterEventConsumerServiceServer(gs, secure)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	_, port, _ := net.SplitHostPort(plainAddr)

	tlsSub := sub("tls", lis.Addr().String(), "t.tls")
	tlsSub.TLS = &TLS{CAFile: certFile}
	named := sub("named", "dns:///consumer.test:1", "t.none") // resolved lazily; never used
	named.TLS = &TLS{CAFile: certFile, ServerName: "consumer.test"}
	cfg := e.config(
		sub("hostport", plainAddr, "t.hostport"),
		sub("dns", "dns:///localhost:"+port, "t.dns"),
		sub("byaddr", "builtin:svc", "t.byaddr"),
		tlsSub,
		named,
	)
	cfg.Addrs = map[string]string{"svc": plainAddr}
	d := e.start(cfg)

	for _, tt := range []struct{ sub, typ string }{{"hostport", "t.hostport"}, {"dns", "t.dns"}, {"byaddr", "t.byaddr"}, {"tls", "t.tls"}} {
		t.Run(tt.sub, func(t *testing.T) {
			ev := event("tg-"+tt.sub, tt.typ)
			e.append(ev)
			waitState(t, d, ev, tt.sub, adminv1.DeliveryState_DELIVERY_STATE_DELIVERED)
		})
	}
	if secure.fx.total() != 1 || plain.fx.total() != 3 {
		t.Fatalf("tls consumer got %d, plain %d", secure.fx.total(), plain.fx.total())
	}
}

func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := selfSigned(t, dir)
	notPEM := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(notPEM, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		tls  TLS
		want string
	}{
		{"missing ca", TLS{CAFile: filepath.Join(dir, "nope.pem")}, "read ca file"},
		{"ca not pem", TLS{CAFile: notPEM}, "no PEM certificate"},
		{"key without cert", TLS{KeyFile: keyFile}, "load client certificate"},
		{"mismatched pair", TLS{CertFile: certFile, KeyFile: notPEM}, "load client certificate"},
	}
	e := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sub("x", "127.0.0.1:1", "a")
			s.TLS = &tt.tls
			cfg := e.config(s)
			cfg.Registerer = nil
			_, err := New(t.Context(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `subscription "x"`) {
				t.Fatalf("err = %v, want %q naming the subscription", err, tt.want)
			}
		})
	}
	// A valid client pair loads.
	if _, err := tlsConfig(&TLS{CertFile: certFile, KeyFile: keyFile, CAFile: certFile}); err != nil {
		t.Fatal(err)
	}
}

// TestWaitingMessagesKeptAlive: replays due at once queue for the only slot of a
// slow consumer for longer than the ack wait; in-progress acks keep the server
// from handing them out again, so each is delivered once.
func TestWaitingMessagesKeptAlive(t *testing.T) {
	e := newEnv(t)
	c := &testConsumer{fx: newEffects()}
	addr, _ := serve(t, c, "127.0.0.1:0")
	s := sub("slow", addr, "k.*")
	s.MaxInFlight = 1
	s.Timeout = 300 * time.Millisecond
	cfg := e.config(s)
	cfg.AckMargin = 100 * time.Millisecond // ack wait 400ms
	d := e.start(cfg)
	const n = 6
	for i := range n {
		e.append(event(fmt.Sprintf("k-%d", i), "k.x"))
	}
	eventually.True(t, 20*time.Second, "first deliveries", func() bool { return c.fx.total() == n })
	c.behave = func(context.Context, *consumerv1.DeliverRequest) error {
		time.Sleep(150 * time.Millisecond) // n replays take ~n*150ms, well past 400ms
		return nil
	}
	for i := range n {
		if _, err := d.ReplayEvent(ctxT(t), "test", fmt.Sprintf("k-%d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	eventually.True(t, 20*time.Second, "every replay", func() bool { return c.numCalls() >= 2*n })
	time.Sleep(time.Second) // a redelivery would show up here
	if got := c.numCalls(); got != 2*n {
		t.Fatalf("%d calls, want %d: a waiting message was handed out twice", got, 2*n)
	}
}
