package gateway

import (
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hookmesh/hookmesh/gateway/internal/config"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/grpcauth"
)

// publisherPrincipal names a config publisher to grpcauth and publish.
func publisherPrincipal(name string) string { return "publisher:" + name }

// grpcServerOptions are the gRPC API's TLS (GRPC_TLS_*) and its callers: the
// admin token for every service but health, each publisher's token for
// PublisherService only. Without an admin token (loopback only) calls without
// a token pass, and a publisher's token still restricts its caller.
func grpcServerOptions(cfg Config, access config.Access) ([]grpc.ServerOption, error) {
	opts, err := cfg.GRPCTLS.ServerOptions()
	if err != nil {
		return nil, err
	}
	if cfg.AdminToken == "" && len(access.Publishers) == 0 {
		return opts, nil
	}
	p := grpcauth.Policy{Open: []string{healthpb.Health_ServiceDesc.ServiceName}, Anonymous: cfg.AdminToken == ""}
	if cfg.AdminToken != "" {
		p.Principals = append(p.Principals, grpcauth.Principal{Name: grpcauth.Admin, Token: cfg.AdminToken})
	}
	for _, pub := range access.Publishers {
		p.Principals = append(p.Principals, grpcauth.Principal{
			Name: publisherPrincipal(pub.Name), Token: pub.Token,
			Services: []string{eventv1.PublisherService_ServiceDesc.ServiceName},
		})
	}
	return append(opts, p.ServerOptions()...), nil
}

// restrictedPublishers are the event type globs of each publisher's principal.
func restrictedPublishers(access config.Access) map[string][]string {
	out := make(map[string][]string, len(access.Publishers))
	for _, pub := range access.Publishers {
		out[publisherPrincipal(pub.Name)] = pub.Types
	}
	return out
}

// EnvSecret is the default Deps.Secrets: NAME, or the file named by NAME_FILE.
func EnvSecret(name string) (string, bool, error) { return config.EnvSecret(name) }
