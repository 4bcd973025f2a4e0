package dispatch

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

const roundRobin = `{"loadBalancingConfig":[{"round_robin":{}}]}`

// resolveTarget returns the connection for s.Target; own is true when the
// dispatcher dialed it and must close it.
func (d *Dispatcher) resolveTarget(s *Subscription) (conn grpc.ClientConnInterface, own *grpc.ClientConn, err error) {
	if name, ok := strings.CutPrefix(s.Target, "builtin:"); ok {
		if c, ok := d.cfg.Conns[name]; ok && c != nil {
			return c, nil, nil
		}
		addr, ok := d.cfg.Addrs[name]
		if !ok {
			return nil, nil, fmt.Errorf("subscription %q: target %s: no built-in service %q", s.Name, s.Target, name)
		}
		c, err := d.dial("passthrough:///"+addr, s.TLS, false)
		if err != nil {
			return nil, nil, fmt.Errorf("subscription %q: dial %s: %w", s.Name, s.Target, err)
		}
		return c, c, nil
	}
	target, rr := s.Target, strings.HasPrefix(s.Target, "dns:///")
	if !rr {
		target = "passthrough:///" + target
	}
	c, err := d.dial(target, s.TLS, rr)
	if err != nil {
		return nil, nil, fmt.Errorf("subscription %q: dial %s: %w", s.Name, s.Target, err)
	}
	return c, c, nil
}

func (d *Dispatcher) dial(target string, t *TLS, rr bool) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if t != nil {
		cfg, err := tlsConfig(t)
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(cfg)
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		// Reconnect to a restarted service within seconds, not gRPC's default 2 minutes.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(
			otelgrpc.WithTracerProvider(d.cfg.TracerProvider),
			otelgrpc.WithPropagators(d.cfg.Propagator),
		)),
	}
	if rr {
		opts = append(opts, grpc.WithDefaultServiceConfig(roundRobin))
	}
	c, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("new client: %w", err)
	}
	return c, nil
}

func tlsConfig(t *TLS) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca file %s holds no PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
