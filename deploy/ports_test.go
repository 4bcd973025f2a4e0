package deploy

import (
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Each hookmesh container listens on every interface at the addresses its
// variables give, and compose publishes or exposes exactly those ports.
func TestComposeListenPorts(t *testing.T) {
	c := loadCompose(t)
	vars := envFile(t)
	for _, comp := range components {
		t.Run(comp.service, func(t *testing.T) {
			svc := c.Services[comp.service]
			env := resolvedEnv(t, svc, vars)
			published, exposed := containerPorts(t, svc)
			listens := map[int]string{}
			for _, a := range comp.addrs {
				host, port := listenPort(t, a, env[a])
				if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
					t.Errorf("%s=%s: listen on every interface (0.0.0.0) so other containers reach it", a, env[a])
				}
				listens[port] = a
				if _, pub := published[port]; !pub && !exposed[port] {
					t.Errorf("%s listens on %d, which compose neither publishes nor exposes", a, port)
				}
			}
			for port := range published {
				if _, ok := listens[port]; !ok {
					t.Errorf("compose publishes container port %d, where nothing listens", port)
				}
			}
			for port := range exposed {
				if _, ok := listens[port]; !ok {
					t.Errorf("compose exposes port %d, where nothing listens", port)
				}
			}
			// The image documents the same ports.
			df := parseDockerfile(t, comp.dockerfile)
			for port, a := range listens {
				if !df.expose[port] {
					t.Errorf("%s: EXPOSE lacks %d (%s)", comp.dockerfile, port, a)
				}
			}
			for port := range df.expose {
				if _, ok := listens[port]; !ok {
					t.Errorf("%s: EXPOSE %d, where compose's %s listens on nothing", comp.dockerfile, port, comp.service)
				}
			}
		})
	}
}

// A health check runs the image's own binary with `health`; the subcommand reads
// the same listen variables as the server, from the same container environment.
func TestComposeHealthchecks(t *testing.T) {
	c := loadCompose(t)
	for _, comp := range components {
		t.Run(comp.service, func(t *testing.T) {
			hc := c.Services[comp.service].Healthcheck
			if hc == nil {
				t.Fatal("no health check")
			}
			want := []string{"CMD", comp.binary, "health"}
			if strings.Join(hc.Test, " ") != strings.Join(want, " ") {
				t.Errorf("health check %q, want %q", hc.Test, want)
			}
			if df := parseDockerfile(t, comp.dockerfile); df.entrypoint != comp.binary {
				t.Errorf("%s: ENTRYPOINT %q, but the health check runs %s", comp.dockerfile, df.entrypoint, comp.binary)
			}
		})
	}
	// Third-party services: their health checks probe the port they serve on.
	for name, port := range map[string]int{"hasura": 8080, "nats-1": 8222, "nats-2": 8222, "nats-3": 8222} {
		hc := c.Services[name].Healthcheck
		if hc == nil {
			t.Errorf("%s: no health check", name)
			continue
		}
		if !strings.Contains(strings.Join(hc.Test, " "), "127.0.0.1:"+strconv.Itoa(port)+"/healthz") {
			t.Errorf("%s: health check %q does not probe 127.0.0.1:%d/healthz", name, hc.Test, port)
		}
	}
	if hc := c.Services["postgres"].Healthcheck; hc == nil || !strings.Contains(strings.Join(hc.Test, " "), "pg_isready") {
		t.Errorf("postgres: health check should run pg_isready")
	}
}

var hostPortRE = regexp.MustCompile(`^([a-z0-9][a-z0-9-]*):(\d+)$`)

// endpoints finds the host:port references in an environment value: URLs (a
// comma-separated list, as HOOKMESH_NATS_URL), and bare host:port.
func endpoints(v string) []*url.URL {
	var out []*url.URL
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if strings.Contains(part, "://") {
			if u, err := url.Parse(part); err == nil && u.Port() != "" {
				out = append(out, u)
			}
			continue
		}
		if m := hostPortRE.FindStringSubmatch(part); m != nil {
			out = append(out, &url.URL{Host: part})
		}
	}
	return out
}

// Every address one container gives another names a compose service and a port
// that service listens on; hookmesh.yaml's targets too, at the target service's
// gRPC port. localhost URLs (links a user opens) name a published host port.
func TestComposeReferences(t *testing.T) {
	c := loadCompose(t)
	vars := envFile(t)
	ports := map[string]map[int]bool{} // service -> container ports
	hostPorts := map[int]string{}      // published host port -> service
	for name, svc := range c.Services {
		published, exposed := containerPorts(t, svc)
		ports[name] = exposed
		for cont, host := range published {
			ports[name][cont] = true
			hostPorts[host] = name
		}
	}
	checked := 0
	check := func(where, host string, port int) {
		t.Helper()
		checked++
		switch host {
		case "localhost", "127.0.0.1":
			if _, ok := hostPorts[port]; !ok {
				t.Errorf("%s: localhost:%d is no published port", where, port)
			}
			return
		}
		p, ok := ports[host]
		switch {
		case !ok:
			t.Errorf("%s: host %s is no compose service", where, host)
		case !p[port]:
			t.Errorf("%s: %s does not listen on %d (ports %v)", where, host, port, p)
		}
	}
	for _, name := range sortedKeys(c.Services) {
		env := resolvedEnv(t, c.Services[name], vars)
		for _, k := range sortedKeys(env) {
			if strings.HasSuffix(k, "_ADDR") && (strings.Contains(k, "GRPC") || strings.Contains(k, "HTTP")) {
				continue // own listen addresses, checked above
			}
			for _, u := range endpoints(env[k]) {
				port, _ := strconv.Atoi(u.Port())
				check(name+": "+k, u.Hostname(), port)
			}
		}
	}
	// Subscription targets reach the service's gRPC listener, not just any port.
	for _, s := range loadHookmeshYAML(t).Subscriptions {
		if strings.HasPrefix(s.Target, "builtin:") {
			continue
		}
		host, port := listenPort(t, "target of "+s.Name, s.Target)
		check("deploy/hookmesh.yaml: subscription "+s.Name, host, port)
		comp := componentNamed(t, host)
		v := grpcAddrVar(comp)
		if _, want := listenPort(t, v, resolvedEnv(t, c.Services[host], vars)[v]); port != want {
			t.Errorf("subscription %s targets %s, but %s listens for gRPC on %d", s.Name, s.Target, host, want)
		}
	}
	// Services dial each other's gRPC ports.
	for k, target := range map[string]string{"email/ANALYTICS_ADDR": "analytics", "orders/PUBLISHER_ADDR": "gateway"} {
		svc, v, _ := strings.Cut(k, "/")
		host, port := listenPort(t, k, resolvedEnv(t, c.Services[svc], vars)[v])
		comp := componentNamed(t, target)
		g := grpcAddrVar(comp)
		if _, want := listenPort(t, g, resolvedEnv(t, c.Services[target], vars)[g]); host != target || port != want {
			t.Errorf("%s=%s:%d, want %s:%d (%s)", k, host, port, target, want, g)
		}
	}
	if checked < 10 {
		t.Errorf("only %d references checked; the scan is broken", checked)
	}
}

func TestEndpoints(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"nats://nats-1:4222,nats://nats-2:4222", []string{"nats-1:4222", "nats-2:4222"}},
		{"analytics:9102", []string{"analytics:9102"}},
		{"postgres://u:p@postgres:5432/db?sslmode=disable", []string{"postgres:5432"}},
		{"http://jaeger:4318", []string{"jaeger:4318"}},
		{"0.0.0.0:9101", nil}, // a listen address, not a reference
		{"hookmesh demo <noreply@hookmesh.localhost>", nil},
		{"true", nil},
	}
	for _, c := range cases {
		var got []string
		for _, u := range endpoints(c.in) {
			got = append(got, u.Host)
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("endpoints(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}
