package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// repoRoot is the repository root (this file's directory's parent).
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test file")
	}
	return filepath.Dir(filepath.Dir(file))
}

func readFile(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// composeFile is the part of the compose specification the stack uses; decoding is
// strict, so a misspelt key (enviroment, healtcheck) fails the test.
type composeFile struct {
	Name     string                    `yaml:"name"`
	XOTel    map[string]string         `yaml:"x-otel"`
	XNATS    yaml.Node                 `yaml:"x-nats"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string               `yaml:"image"`
	Build       *composeBuild        `yaml:"build"`
	Command     []string             `yaml:"command"`
	DependsOn   map[string]dependsOn `yaml:"depends_on"`
	Ports       []string             `yaml:"ports"`
	Expose      []string             `yaml:"expose"`
	Environment envMap               `yaml:"environment"`
	Volumes     []string             `yaml:"volumes"`
	Healthcheck *healthcheck         `yaml:"healthcheck"`
	Restart     string               `yaml:"restart"`
	StopGrace   string               `yaml:"stop_grace_period"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

type dependsOn struct {
	Condition string `yaml:"condition"`
}

type healthcheck struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	Retries     int      `yaml:"retries"`
	StartPeriod string   `yaml:"start_period"`
}

// envMap accepts both compose forms: a mapping, or a list of NAME=value.
type envMap map[string]string

func (e *envMap) UnmarshalYAML(n *yaml.Node) error {
	out := envMap{}
	switch n.Kind {
	case yaml.MappingNode:
		var m map[string]string
		if err := n.Decode(&m); err != nil {
			return err
		}
		for k, v := range m {
			out[k] = v
		}
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, kv := range l {
			k, v, _ := strings.Cut(kv, "=")
			out[k] = v
		}
	default:
		return fmt.Errorf("line %d: environment must be a mapping or a list", n.Line)
	}
	*e = out
	return nil
}

func loadCompose(t testing.TB) *composeFile {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(readFile(t, "docker-compose.yml")))
	dec.KnownFields(true)
	var c composeFile
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return &c
}

// component is one hookmesh binary as compose runs it.
type component struct {
	service    string // compose service name
	dockerfile string // relative to the repository root
	binary     string // path of the binary in the image
	pkg        string // Go package of the binary, relative to the root
	// addrs are the variables holding the container's listen addresses.
	addrs []string
}

var components = []component{
	{"gateway", "deploy/docker/gateway.Dockerfile", "/usr/local/bin/hookmesh-gateway", "gateway/cmd/hookmesh-gateway", []string{"HOOKMESH_HTTP_ADDR", "HOOKMESH_GRPC_ADDR"}},
	{"email", "deploy/docker/email.Dockerfile", "/usr/local/bin/email", "services/email/cmd/email", []string{"EMAIL_GRPC_ADDR", "EMAIL_HTTP_ADDR"}},
	{"analytics", "deploy/docker/analytics.Dockerfile", "/usr/local/bin/analytics", "services/analytics/cmd/analytics", []string{"ANALYTICS_GRPC_ADDR", "ANALYTICS_HTTP_ADDR"}},
	{"orders", "deploy/docker/orders.Dockerfile", "/usr/local/bin/orders", "services/orders/cmd/orders", []string{"ORDERS_GRPC_ADDR", "ORDERS_HTTP_ADDR"}},
}

// envFile reads deploy/env.example, the .env users copy.
func envFile(t testing.TB) map[string]string {
	t.Helper()
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, "deploy/env.example")))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`).MatchString(k) {
			t.Fatalf("deploy/env.example line %d: want NAME=value", n)
		}
		if _, dup := vars[k]; dup {
			t.Fatalf("deploy/env.example line %d: %s set twice", n, k)
		}
		vars[k] = v
	}
	return vars
}

var interpRE = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// interpolation is one ${...} reference in a compose value.
type interpolation struct {
	name       string
	op         string // "", ":-", "-", ":?", "?"
	hasDefault bool
}

// interpolate resolves compose's variable syntax against vars, as `docker compose`
// does with .env: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, $VAR, $$.
func interpolate(s string, vars map[string]string) (string, []interpolation, error) {
	var refs []interpolation
	var errs []error
	out := interpRE.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sub := interpRE.FindStringSubmatch(m)
		name, op, arg := sub[1], sub[2], sub[3]
		if name == "" {
			name = sub[4]
		}
		v, set := vars[name]
		refs = append(refs, interpolation{name: name, op: op, hasDefault: op == ":-" || op == "-"})
		switch op {
		case ":-":
			if v == "" {
				return arg
			}
		case "-":
			if !set {
				return arg
			}
		case ":?", "?":
			if !set || (op == ":?" && v == "") {
				errs = append(errs, fmt.Errorf("%s: %s", name, arg))
			}
		}
		return v
	})
	return out, refs, errors.Join(errs...)
}

// resolvedEnv is a service's environment as the container sees it with .env =
// deploy/env.example.
func resolvedEnv(t testing.TB, svc composeService, vars map[string]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range svc.Environment {
		r, _, err := interpolate(v, vars)
		if err != nil {
			t.Fatalf("env %s: %v", k, err)
		}
		out[k] = r
	}
	return out
}

// containerPorts are the ports a service listens on as compose declares them:
// published (container side of ports:) and expose:.
func containerPorts(t testing.TB, svc composeService) (published map[int]int, exposed map[int]bool) {
	t.Helper()
	published, exposed = map[int]int{}, map[int]bool{}
	for _, p := range svc.Ports {
		// [host_ip:]host_port:container_port
		parts := strings.Split(p, ":")
		if len(parts) < 2 {
			t.Fatalf("ports entry %q: want [ip:]host:container (publish explicitly)", p)
		}
		host, err1 := strconv.Atoi(parts[len(parts)-2])
		cont, err2 := strconv.Atoi(parts[len(parts)-1])
		if err1 != nil || err2 != nil {
			t.Fatalf("ports entry %q: not numeric", p)
		}
		published[cont] = host
	}
	for _, p := range svc.Expose {
		n, err := strconv.Atoi(p)
		if err != nil {
			t.Fatalf("expose entry %q: not a port", p)
		}
		exposed[n] = true
	}
	return published, exposed
}

func listenPort(t testing.TB, name, addr string) (host string, port int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: port must be a fixed number", name, addr)
	}
	return h, n
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestComposeParses(t *testing.T) {
	c := loadCompose(t)
	if c.Name == "" {
		t.Error("compose file has no project name")
	}
	want := []string{"analytics", "email", "gateway", "hasura", "jaeger", "mailpit", "nats-1", "nats-2", "nats-3", "orders", "postgres"}
	if got := sortedKeys(c.Services); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("services %v, want %v", got, want)
	}
	// gateway.Run gives in-flight deliveries 30 s after SIGTERM; docker's default
	// 10 s would SIGKILL it first (safe, but redeliveries wait for AckWait).
	if d, err := time.ParseDuration(c.Services["gateway"].StopGrace); err != nil || d < 35*time.Second {
		t.Errorf("gateway stop_grace_period %q: want at least 35s", c.Services["gateway"].StopGrace)
	}
	for _, name := range sortedKeys(c.Services) {
		svc := c.Services[name]
		t.Run(name, func(t *testing.T) {
			if svc.Restart != "unless-stopped" && svc.Restart != "always" && svc.Restart != "on-failure" {
				t.Errorf("restart policy %q: want unless-stopped, always or on-failure", svc.Restart)
			}
			if svc.Image == "" {
				t.Error("no image")
			} else if svc.Build == nil && (!strings.Contains(svc.Image, ":") || strings.HasSuffix(svc.Image, ":latest")) {
				t.Errorf("image %q: pin a version", svc.Image)
			}
			for dep, d := range svc.DependsOn {
				other, ok := c.Services[dep]
				switch {
				case !ok:
					t.Errorf("depends_on %s: no such service", dep)
				case d.Condition == "service_healthy" && other.Healthcheck == nil:
					t.Errorf("depends_on %s: service_healthy, but %s has no health check", dep, dep)
				}
			}
			for _, v := range svc.Volumes {
				src, _, _ := strings.Cut(v, ":")
				if strings.HasPrefix(src, "./") {
					if _, err := os.Stat(filepath.Join(repoRoot(t), filepath.FromSlash(src))); err != nil {
						t.Errorf("volume %s: %v", v, err)
					}
				} else if _, ok := c.Volumes[src]; !ok {
					t.Errorf("volume %s: named volume %s is not declared", v, src)
				}
			}
		})
	}
}

// The compose file's ${VAR}s are exactly the variables of deploy/env.example, and
// no secret has a default: compose refuses to start until .env sets them all.
func TestComposeVariables(t *testing.T) {
	c := loadCompose(t)
	vars := envFile(t)
	used := map[string]bool{}
	for _, name := range sortedKeys(c.Services) {
		svc := c.Services[name]
		for _, k := range sortedKeys(svc.Environment) {
			_, refs, err := interpolate(svc.Environment[k], vars)
			if err != nil {
				t.Errorf("%s: %s: %v", name, k, err)
			}
			for _, r := range refs {
				used[r.name] = true
				if _, ok := vars[r.name]; !ok {
					t.Errorf("%s: %s uses ${%s}, which deploy/env.example does not set", name, k, r.name)
				}
				if r.hasDefault && regexp.MustCompile(`SECRET|TOKEN|PASSWORD`).MatchString(r.name) {
					t.Errorf("%s: %s gives secret %s a default; use ${%s:?...}", name, k, r.name, r.name)
				}
			}
		}
	}
	for _, k := range sortedKeys(vars) {
		if !used[k] {
			t.Errorf("deploy/env.example sets %s, which docker-compose.yml never uses", k)
		}
	}
	// The interpolation itself, on known cases.
	cases := []struct {
		in, want, err string
	}{
		{"${A}", "a", ""},
		{"x${A}y$A", "xaya", ""},
		{"${UNSET:-d}", "d", ""},
		{"${EMPTY:-d}", "d", ""},
		{"${EMPTY-d}", "", ""},
		{"${UNSET:?need it}", "", "UNSET: need it"},
		{"$${A}", "${A}", ""},
	}
	for _, tc := range cases {
		got, _, err := interpolate(tc.in, map[string]string{"A": "a", "EMPTY": ""})
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) || err == nil && got != tc.want {
			t.Errorf("interpolate(%q) = %q, %v; want %q, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}
