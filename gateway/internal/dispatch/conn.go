package dispatch

import (
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hookmesh/hookmesh/platform/grpcauth"
)

const roundRobin = `{"loadBalancingConfig":[{"round_robin":{}}]}`

// resolveTarget returns the connection for s.Target; own is that connection when
// the dispatcher dialed it and must close it (nil for Config.Conns).
func (d *Dispatcher) resolveTarget(s *Subscription) (conn grpc.ClientConnInterface, own *grpc.ClientConn, err error) {
	if name, ok := strings.CutPrefix(s.Target, "builtin:"); ok {
		if c, ok := d.cfg.Conns[name]; ok && c != nil {
			return c, nil, nil
		}
		addr, ok := d.cfg.Addrs[name]
		if !ok {
			return nil, nil, fmt.Errorf("subscription %q: target %s: no built-in service %q", s.Name, s.Target, name)
		}
		c, err := d.dial("passthrough:///"+addr, s.TLS, s.Token, false)
		if err != nil {
			return nil, nil, fmt.Errorf("subscription %q: dial %s: %w", s.Name, s.Target, err)
		}
		return c, c, nil
	}
	target, rr := s.Target, strings.HasPrefix(s.Target, "dns:///")
	if !rr {
		target = "passthrough:///" + target
	}
	c, err := d.dial(target, s.TLS, s.Token, rr)
	if err != nil {
		return nil, nil, fmt.Errorf("subscription %q: dial %s: %w", s.Name, s.Target, err)
	}
	return c, c, nil
}

func (d *Dispatcher) dial(target string, t *TLS, token string, rr bool) (*grpc.ClientConn, error) {
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
		grpcauth.WithBearer(token), // the target's SERVICE_TOKEN (token_from_env)
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
	return grpcauth.ClientTLS{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, ServerName: t.ServerName}.Config()
}
