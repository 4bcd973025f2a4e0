package deploy

import (
	"sort"
	"strings"
	"testing"

	"github.com/hookmesh/hookmesh/gateway"
	"github.com/hookmesh/hookmesh/platform/envconfig"
	analyticsapp "github.com/hookmesh/hookmesh/services/analytics/app"
	emailapp "github.com/hookmesh/hookmesh/services/email/app"
	ordersapp "github.com/hookmesh/hookmesh/services/orders/app"
)

// otelNames are the standard OpenTelemetry SDK and OTLP exporter variables for
// traces (the specification's names, read by the SDK that platform/telemetry sets
// up, not by hookmesh's Config structs).
var otelNames = map[string]bool{
	"OTEL_SDK_DISABLED": true, "OTEL_SERVICE_NAME": true, "OTEL_RESOURCE_ATTRIBUTES": true,
	"OTEL_TRACES_EXPORTER": true, "OTEL_TRACES_SAMPLER": true, "OTEL_TRACES_SAMPLER_ARG": true,
	"OTEL_BSP_SCHEDULE_DELAY": true, "OTEL_BSP_EXPORT_TIMEOUT": true, "OTEL_BSP_MAX_QUEUE_SIZE": true, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": true,
	"OTEL_EXPORTER_OTLP_ENDPOINT": true, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": true,
	"OTEL_EXPORTER_OTLP_PROTOCOL": true, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": true,
	"OTEL_EXPORTER_OTLP_HEADERS": true, "OTEL_EXPORTER_OTLP_TRACES_HEADERS": true,
	"OTEL_EXPORTER_OTLP_TIMEOUT": true, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": true,
	"OTEL_EXPORTER_OTLP_COMPRESSION": true, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": true,
	"OTEL_EXPORTER_OTLP_INSECURE": true, "OTEL_EXPORTER_OTLP_TRACES_INSECURE": true,
	"OTEL_EXPORTER_OTLP_CERTIFICATE": true, "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": true,
	"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": true, "OTEL_EXPORTER_OTLP_CLIENT_KEY": true,
}

// configNames lists the variables a component's binary reads through its Config.
func configNames(t testing.TB, comp string) []string {
	t.Helper()
	switch comp {
	case "email":
		return envconfig.Names(emailapp.Config{})
	case "analytics":
		return envconfig.Names(analyticsapp.Config{})
	case "orders":
		return envconfig.Names(ordersapp.Config{})
	case "gateway":
		return envconfig.Names(gateway.ProcessConfig{})
	}
	t.Fatalf("unknown component %s", comp)
	return nil
}

// Every variable compose sets on a hookmesh container is one its binary reads:
// from the Config structs (envconfig.Names), the OTEL_* standard names, and for the
// gateway the source secrets it looks up through secrets_from_env in
// deploy/hookmesh.yaml (recorded from the real gateway.New).
func TestComposeEnvNamesAreRead(t *testing.T) {
	c := loadCompose(t)
	secretNames := gatewaySecretLookups(t)
	for _, comp := range components {
		t.Run(comp.service, func(t *testing.T) {
			svc, ok := c.Services[comp.service]
			if !ok {
				t.Fatalf("no compose service %s", comp.service)
			}
			read := map[string]bool{}
			for _, n := range configNames(t, comp.service) {
				read[n] = true
			}
			if comp.service == "gateway" {
				for _, n := range secretNames {
					read[n], read[n+"_FILE"] = true, true
				}
			}
			var unread []string
			for _, k := range sortedKeys(svc.Environment) {
				if !read[k] && !otelNames[k] {
					unread = append(unread, k)
				}
			}
			if len(unread) > 0 {
				known := sortedKeys(read)
				t.Errorf("compose sets %v, which %s never reads; it reads %v and the OTEL_* standard names", unread, comp.service, known)
			}
			for _, a := range comp.addrs {
				if !read[a] {
					t.Errorf("listen address variable %s is not read by %s (components table out of date)", a, comp.service)
				}
				if _, ok := svc.Environment[a]; !ok {
					t.Errorf("%s is not set: the default listens on loopback, out of other containers' reach", a)
				}
			}
		})
	}
	// The gateway needs a secret for every source, or it refuses to start.
	gw := c.Services["gateway"].Environment
	for _, src := range loadHookmeshYAML(t).Sources {
		set := false
		for _, n := range src.SecretsFromEnv {
			_, direct := gw[n]
			_, file := gw[n+"_FILE"]
			set = set || direct || file
		}
		if !set {
			t.Errorf("gateway: source %s has none of %v set", src.Name, src.SecretsFromEnv)
		}
	}
}

// The hookmesh containers' environments are valid configurations, as each binary's
// own Validate sees them (with deploy/env.example as .env).
func TestComposeEnvValidates(t *testing.T) {
	c := loadCompose(t)
	vars := envFile(t)
	type validator interface{ Validate() error }
	cases := []struct {
		service string
		cfg     validator
	}{
		{"email", &emailapp.Config{}},
		{"analytics", &analyticsapp.Config{}},
		{"orders", &ordersapp.Config{}},
	}
	for _, tc := range cases {
		t.Run(tc.service, func(t *testing.T) {
			for _, n := range envconfig.Names(tc.cfg) {
				t.Setenv(n, "") // empty counts as unset
			}
			env := resolvedEnv(t, c.Services[tc.service], vars)
			for k, v := range env {
				t.Setenv(k, v)
			}
			if err := envconfig.Load(tc.cfg); err != nil {
				t.Fatalf("load: %v", err)
			}
			if err := tc.cfg.Validate(); err != nil {
				t.Errorf("validate: %v", err)
			}
		})
	}
}

// The gateway's gRPC API listens off loopback, so it requires HOOKMESH_ADMIN_TOKEN
// (or refuses to start); orders publishes to it with its own publisher token, the
// one deploy/hookmesh.yaml's orders publisher names, not the admin token.
func TestComposePublisherToken(t *testing.T) {
	c := loadCompose(t)
	vars := envFile(t)
	gw := resolvedEnv(t, c.Services["gateway"], vars)
	orders := resolvedEnv(t, c.Services["orders"], vars)
	if gw["HOOKMESH_ADMIN_TOKEN"] == "" {
		t.Fatalf("gateway: HOOKMESH_GRPC_ADDR=%s without HOOKMESH_ADMIN_TOKEN is refused at start", gw["HOOKMESH_GRPC_ADDR"])
	}
	var env string
	for _, p := range loadHookmeshYAML(t).Publishers {
		if p.Name == "orders" {
			env = p.TokenFromEnv
		}
	}
	if env == "" {
		t.Fatal("deploy/hookmesh.yaml has no orders publisher")
	}
	if orders["PUBLISHER_TOKEN"] == "" || orders["PUBLISHER_TOKEN"] != gw[env] {
		t.Errorf("orders: PUBLISHER_TOKEN is not the gateway's %s: %s", env, c.Services["orders"].Environment["PUBLISHER_TOKEN"])
	}
	if orders["PUBLISHER_TOKEN"] == gw["HOOKMESH_ADMIN_TOKEN"] {
		t.Error("orders holds the gateway's admin token")
	}
}

// Each service listens off loopback, so it needs SERVICE_TOKEN (or refuses to
// start), and the gateway sends that same value to it: the variable its
// subscription's token_from_env names.
func TestComposeServiceTokens(t *testing.T) {
	c := loadCompose(t)
	vars := envFile(t)
	gw := resolvedEnv(t, c.Services["gateway"], vars)
	subs := map[string]string{}
	for _, s := range loadHookmeshYAML(t).Subscriptions {
		subs[s.Name] = s.TokenFromEnv
	}
	for _, name := range []string{"email", "analytics", "orders"} {
		t.Run(name, func(t *testing.T) {
			env := resolvedEnv(t, c.Services[name], vars)
			if env["SERVICE_TOKEN"] == "" {
				t.Fatal("SERVICE_TOKEN is not set: a service listening on 0.0.0.0 refuses to start without it")
			}
			from := subs[name]
			if from == "" {
				t.Fatalf("deploy/hookmesh.yaml: subscription %s has no token_from_env", name)
			}
			if gw[from] != env["SERVICE_TOKEN"] {
				t.Errorf("gateway's %s is not %s's SERVICE_TOKEN", from, name)
			}
		})
	}
	if email := resolvedEnv(t, c.Services["email"], vars); email["ANALYTICS_TOKEN"] != resolvedEnv(t, c.Services["analytics"], vars)["SERVICE_TOKEN"] {
		t.Error("email: ANALYTICS_TOKEN is not analytics' SERVICE_TOKEN")
	}
}

func TestGatewayBinaryNames(t *testing.T) {
	got := configNames(t, "gateway")
	want := append(envconfig.Names(gateway.Config{}), "HOOKMESH_GRPC_ADDR")
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("gateway binary reads %v, want %v", got, want)
	}
}
