package deploy

import (
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/hookmesh/hookmesh/gateway"
)

// hookmeshYAML is what these tests read of deploy/hookmesh.yaml; the gateway
// itself validates the whole file (strictly) in the tests that start it.
type hookmeshYAML struct {
	Log struct {
		Replicas int `yaml:"replicas"`
	} `yaml:"log"`
	Sources []struct {
		Name           string   `yaml:"name"`
		Kind           string   `yaml:"kind"`
		Header         string   `yaml:"header"`
		SecretsFromEnv []string `yaml:"secrets_from_env"`
	} `yaml:"sources"`
	Subscriptions []struct {
		Name         string   `yaml:"name"`
		Target       string   `yaml:"target"`
		Events       []string `yaml:"events"`
		TokenFromEnv string   `yaml:"token_from_env"`
	} `yaml:"subscriptions"`
	Publishers []struct {
		Name         string   `yaml:"name"`
		TokenFromEnv string   `yaml:"token_from_env"`
		Types        []string `yaml:"types"`
	} `yaml:"publishers"`
	Schedules []struct {
		Name      string         `yaml:"name"`
		Cron      string         `yaml:"cron"`
		Timezone  string         `yaml:"timezone"`
		Payload   map[string]any `yaml:"payload"`
		Tolerance string         `yaml:"tolerance"`
	} `yaml:"schedules"`
}

func loadHookmeshYAML(t testing.TB) *hookmeshYAML {
	t.Helper()
	var h hookmeshYAML
	if err := yaml.Unmarshal(readFile(t, "deploy/hookmesh.yaml"), &h); err != nil {
		t.Fatalf("deploy/hookmesh.yaml: %v", err)
	}
	return &h
}

// matchGlob is the subscription glob of DESIGN.md: `*` matches any run of
// characters, dots included.
func matchGlob(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$").MatchString(s)
}

func TestMatchGlob(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"github.*", "github.pull_request.opened", true},
		{"hasura.public.orders.*", "hasura.public.orders.update", true},
		{"hasura.public.orders.*", "hasura.public.ordersx", false},
		{"hasura.public.users.insert", "hasura.public.users.insert", true},
		{"hasura.public.users.insert", "hasura.public.users.update", false},
		{"a.b", "axb", false},
	}
	for _, c := range cases {
		if got := matchGlob(c.pattern, c.s); got != c.want {
			t.Errorf("matchGlob(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

// hookmeshYAMLReplicas1 writes deploy/hookmesh.yaml with the log on one replica,
// for an embedded single server; everything else is the file as deployed.
func hookmeshYAMLReplicas1(t testing.TB) string {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(readFile(t, "deploy/hookmesh.yaml"), &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "log" {
			continue
		}
		logNode := root.Content[i+1]
		for j := 0; j+1 < len(logNode.Content); j += 2 {
			if logNode.Content[j].Value == "replicas" {
				logNode.Content[j+1].Value = "1"
			}
		}
	}
	b, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "hookmesh.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var (
	secretLookupsOnce sync.Once
	secretLookups     []string
)

// gatewaySecretLookups are the variables the real gateway looks up for the sources
// of deploy/hookmesh.yaml (recorded through Deps.Secrets), answered from the compose
// gateway environment, so the gateway also checks each secret's form.
func gatewaySecretLookups(t testing.TB) []string {
	t.Helper()
	secretLookupsOnce.Do(func() {
		env := resolvedEnv(t, loadCompose(t).Services["gateway"], envFile(t))
		var mu sync.Mutex
		seen := map[string]bool{}
		lookup := func(name string) (string, bool, error) {
			mu.Lock()
			seen[name] = true
			mu.Unlock()
			v, ok := env[name]
			return v, ok && v != "", nil
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		gw, err := gateway.New(t.Context(), gateway.Config{
			DataDir:    t.TempDir(),
			ConfigFile: hookmeshYAMLReplicas1(t),
			AdminToken: env["HOOKMESH_ADMIN_TOKEN"],
		}, gateway.Deps{Secrets: lookup, HTTPListener: lis, NoDispatcher: true})
		if err != nil {
			t.Fatalf("gateway.New with deploy/hookmesh.yaml and the compose secrets: %v", err)
		}
		gw.Close()
		for n := range seen {
			secretLookups = append(secretLookups, n)
		}
		sort.Strings(secretLookups)
	})
	if len(secretLookups) == 0 {
		t.Fatal("the gateway looked up no secrets")
	}
	return secretLookups
}

func TestGatewaySecretLookups(t *testing.T) {
	got := gatewaySecretLookups(t)
	var want []string
	h := loadHookmeshYAML(t)
	for _, s := range h.Sources {
		want = append(want, s.SecretsFromEnv...)
	}
	for _, s := range h.Subscriptions {
		if s.TokenFromEnv != "" {
			want = append(want, s.TokenFromEnv)
		}
	}
	for _, p := range h.Publishers {
		want = append(want, p.TokenFromEnv)
	}
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("the gateway looked up %v; deploy/hookmesh.yaml names %v", got, want)
	}
}

// deploy/hookmesh.yaml is the built-in demo config with only the deployment's
// differences: the log replicated 3 times, and targets at the services' gRPC
// addresses instead of builtin:<name>, with their <NAME>_SERVICE_TOKEN.
func TestHookmeshYAMLIsTheDemoConfig(t *testing.T) {
	var demo, deployed map[string]any
	if err := yaml.Unmarshal(readFile(t, "gateway/internal/config/demo.yaml"), &demo); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(readFile(t, "deploy/hookmesh.yaml"), &deployed); err != nil {
		t.Fatal(err)
	}
	c := loadCompose(t)
	vars := envFile(t)
	if lg, ok := demo["log"].(map[string]any); ok {
		lg["replicas"] = 3
	}
	subs, _ := demo["subscriptions"].([]any)
	for _, s := range subs {
		m := s.(map[string]any)
		target, _ := m["target"].(string)
		name, ok := strings.CutPrefix(target, "builtin:")
		if !ok || name == "gateway" {
			continue
		}
		comp := componentNamed(t, name)
		v := grpcAddrVar(comp)
		_, port := listenPort(t, v, resolvedEnv(t, c.Services[name], vars)[v])
		m["target"] = name + ":" + strconv.Itoa(port)
		m["token_from_env"] = strings.ToUpper(name) + "_SERVICE_TOKEN"
	}
	if !reflect.DeepEqual(demo, deployed) {
		want, _ := yaml.Marshal(demo)
		got, _ := yaml.Marshal(deployed)
		t.Errorf("deploy/hookmesh.yaml drifted from the demo config.\nwant:\n%s\ngot:\n%s", want, got)
	}
}

func componentNamed(t testing.TB, name string) component {
	t.Helper()
	for _, c := range components {
		if c.service == name {
			return c
		}
	}
	t.Fatalf("no component %s", name)
	return component{}
}

// grpcAddrVar is the variable of a component's gRPC listen address.
func grpcAddrVar(c component) string {
	for _, a := range c.addrs {
		if strings.HasSuffix(a, "_GRPC_ADDR") {
			return a
		}
	}
	return ""
}
