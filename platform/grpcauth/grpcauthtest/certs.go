// Package grpcauthtest generates the certificates of TLS tests: a CA, a
// server certificate for loopback and a client certificate, written as PEM
// files into a test's temporary directory.
package grpcauthtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Certs are PEM files signed by one test CA.
type Certs struct {
	// CAFile is the CA certificate.
	CAFile string
	// ServerCert and ServerKey are valid for localhost, 127.0.0.1, ::1 and
	// ServerName; they allow client authentication too (a process dialing
	// its own mutual-TLS listener presents them).
	ServerCert, ServerKey string
	// ClientCert and ClientKey are a client certificate for mutual TLS.
	ClientCert, ClientKey string
}

// ServerName is a DNS name in the server certificate that resolves nowhere.
const ServerName = "consumer.hookmesh.test"

// New writes a CA, a server and a client certificate into a new temporary
// directory of tb.
func New(tb testing.TB) Certs {
	tb.Helper()
	dir := tb.TempDir()
	caKey := key(tb)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "hookmesh test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		tb.Fatal(err)
	}
	c := Certs{CAFile: filepath.Join(dir, "ca.pem")}
	write(tb, c.CAFile, "CERTIFICATE", caDER)
	c.ServerCert, c.ServerKey = leaf(tb, dir, "server", ca, caKey, &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost", ServerName},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	})
	c.ClientCert, c.ClientKey = leaf(tb, dir, "client", ca, caKey, &x509.Certificate{
		SerialNumber: big.NewInt(3),
		Subject:      pkix.Name{CommonName: "hookmesh test client"},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return c
}

func leaf(tb testing.TB, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (certFile, keyFile string) {
	tb.Helper()
	k := key(tb)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		tb.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	write(tb, certFile, "CERTIFICATE", der)
	write(tb, keyFile, "EC PRIVATE KEY", kb)
	return certFile, keyFile
}

func key(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func write(tb testing.TB, path, typ string, der []byte) {
	tb.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
}
