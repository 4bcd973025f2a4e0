package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"gopkg.in/yaml.v3"

	"github.com/hookmesh/hookmesh/gateway"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
)

var natsNodes = []string{"nats-1", "nats-2", "nats-3"}

// natsOptions parses deploy/nats/nats.conf as node name would run it, with the
// nats-server module hookmesh embeds (same parser, same version).
func natsOptions(t *testing.T, name string) *server.Options {
	t.Helper()
	env := loadCompose(t).Services[name].Environment
	t.Setenv("NATS_SERVER_NAME", env["NATS_SERVER_NAME"])
	opts, err := server.ProcessConfigFile(filepath.Join(repoRoot(t), "deploy", "nats", "nats.conf"))
	if err != nil {
		t.Fatalf("deploy/nats/nats.conf: %v", err)
	}
	return opts
}

// The NATS config and compose agree: names, ports, routes, volumes, the gateway's
// URL list; and max_payload fits the largest event the gateway stores.
func TestNATSConfig(t *testing.T) {
	c := loadCompose(t)
	vars := envFile(t)
	var clientURLs []string
	for _, name := range natsNodes {
		svc, ok := c.Services[name]
		if !ok {
			t.Fatalf("no compose service %s", name)
		}
		opts := natsOptions(t, name)
		if opts.ServerName != name {
			t.Errorf("%s: server_name %q, want the service name (NATS_SERVER_NAME)", name, opts.ServerName)
		}
		if !opts.JetStream {
			t.Errorf("%s: JetStream is off", name)
		}
		_, exposed := containerPorts(t, svc)
		for what, port := range map[string]int{"client port": opts.Port, "cluster port": opts.Cluster.Port, "monitoring port": opts.HTTPPort} {
			if !exposed[port] {
				t.Errorf("%s: %s %d is not exposed", name, what, port)
			}
		}
		var routes []string
		for _, r := range opts.Routes {
			routes = append(routes, r.Host)
			if r.Port() != strconv.Itoa(opts.Cluster.Port) {
				t.Errorf("%s: route %s is not at the cluster port %d", name, r, opts.Cluster.Port)
			}
		}
		var want []string
		for _, n := range natsNodes {
			want = append(want, n+":"+strconv.Itoa(opts.Cluster.Port))
		}
		if strings.Join(routes, ",") != strings.Join(want, ",") {
			t.Errorf("%s: routes %v, want %v", name, routes, want)
		}
		if opts.Cluster.Name == "" {
			t.Errorf("%s: the cluster has no name", name)
		}
		// The store lives on the node's own volume.
		onVolume := false
		for _, v := range svc.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) >= 2 && !strings.HasPrefix(parts[0], ".") && (opts.StoreDir == parts[1] || strings.HasPrefix(opts.StoreDir, parts[1]+"/")) {
				onVolume = true
			}
		}
		if !onVolume {
			t.Errorf("%s: store_dir %s is on no named volume (%v)", name, opts.StoreDir, svc.Volumes)
		}
		// compose runs the mounted file.
		conf := slices.Index(svc.Command, "--config")
		if conf < 0 || conf+1 >= len(svc.Command) {
			t.Errorf("%s: command %v does not pass --config", name, svc.Command)
		} else {
			mounted := false
			for _, v := range svc.Volumes {
				mounted = mounted || strings.HasPrefix(v, "./deploy/nats/nats.conf:"+svc.Command[conf+1])
			}
			if !mounted {
				t.Errorf("%s: --config %s is not deploy/nats/nats.conf mounted", name, svc.Command[conf+1])
			}
		}
		clientURLs = append(clientURLs, "nats://"+name+":"+strconv.Itoa(opts.Port))
	}
	gw := resolvedEnv(t, c.Services["gateway"], vars)
	if got := strings.Split(gw["HOOKMESH_NATS_URL"], ","); strings.Join(got, ",") != strings.Join(clientURLs, ",") {
		t.Errorf("HOOKMESH_NATS_URL %v, want every node: %v", got, clientURLs)
	}
	if h := loadHookmeshYAML(t); h.Log.Replicas != len(natsNodes) {
		t.Errorf("deploy/hookmesh.yaml: log.replicas %d on a %d-node cluster", h.Log.Replicas, len(natsNodes))
	}
}

// freeLoopbackPorts reserves n distinct loopback ports and releases them for use.
func freeLoopbackPorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}

// The compose topology in one process: three servers from deploy/nats/nats.conf
// (addresses moved to loopback, stores to temp dirs) form the cluster, and a real
// gateway with deploy/hookmesh.yaml (log on 3 replicas; targets moved to loopback)
// and the compose gateway's environment starts on it, stores a webhook Hasura sends
// as the metadata says, and delivers it to the demo subscriptions of a new user.
func TestComposeGatewayOnNATSCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: skipping the 3-node cluster")
	}
	c := loadCompose(t)
	vars := envFile(t)
	clusterPorts := freeLoopbackPorts(t, len(natsNodes))
	var routes []*url.URL
	for _, p := range clusterPorts {
		routes = append(routes, &url.URL{Scheme: "nats", Host: "127.0.0.1:" + strconv.Itoa(p)})
	}
	var clientURLs []string
	for i, name := range natsNodes {
		opts := natsOptions(t, name)
		opts.Host, opts.Port = "127.0.0.1", -1
		opts.HTTPPort = 0
		opts.Cluster.Host, opts.Cluster.Port = "127.0.0.1", clusterPorts[i]
		opts.Routes = routes
		opts.StoreDir = t.TempDir()
		opts.NoLog, opts.NoSigs = true, true
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		go s.Start()
		t.Cleanup(s.Shutdown)
		if !s.ReadyForConnections(20 * time.Second) {
			t.Fatalf("%s: not ready", name)
		}
		clientURLs = append(clientURLs, s.ClientURL())
	}

	gwEnv := resolvedEnv(t, c.Services["gateway"], vars)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// The services behind the subscription targets (email:9101, …) are recording
	// consumers on loopback: the compose network's names do not resolve here.
	consumers := map[string]*recordingConsumer{}
	conf := hookmeshYAMLWithTargets(t, func(target string) string {
		host, _, err := net.SplitHostPort(target)
		if err != nil {
			t.Fatalf("target %s: %v", target, err)
		}
		rc := startRecordingConsumer(t)
		consumers[host] = rc
		return rc.addr
	})
	gw, err := gateway.New(ctx, gateway.Config{
		NATSURL:    strings.Join(clientURLs, ","),
		ConfigFile: conf,
		AdminToken: gwEnv["HOOKMESH_ADMIN_TOKEN"],
		DataDir:    t.TempDir(),
	}, gateway.Deps{
		HTTPListener: lis,
		Secrets: func(name string) (string, bool, error) {
			v, ok := gwEnv[name]
			return v, ok && v != "", nil
		},
	})
	if err != nil {
		t.Fatalf("gateway.New on the cluster with deploy/hookmesh.yaml: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("gateway stopped with %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("gateway did not stop within 60s")
		}
	})

	// The event log is replicated on every node.
	nc, err := nats.Connect(strings.Join(clientURLs, ","))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, "HOOKMESH_EVENTS")
	if err != nil {
		t.Fatalf("event stream: %v", err)
	}
	if info, err := stream.Info(ctx); err != nil || info.Config.Replicas != len(natsNodes) {
		t.Errorf("event stream replicas: %v (%v), want %d", info.Config.Replicas, err, len(natsNodes))
	}

	// Hasura's INSERT on public.users, as the metadata's trigger sends it.
	_, tables := loadHasuraTables(t)
	tr := tables["public.users"].EventTriggers[0]
	hasuraEnv := resolvedEnv(t, c.Services["hasura"], vars)
	webhook, err := url.Parse(strings.ReplaceAll(tr.Webhook, "{{HOOKMESH_GATEWAY_URL}}", hasuraEnv["HOOKMESH_GATEWAY_URL"]))
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("5b8d3f7e-0c1a-4e2b-9f3d-%012d", time.Now().UnixNano()%1e12)
	body := fmt.Sprintf(`{"id":%q,"table":{"schema":"public","name":"users"},"trigger":{"name":%q},"event":{"op":"INSERT","data":{"old":null,"new":{"id":1,"email":"ada@example.com","name":"Ada","registration_method":"email","created_at":"2026-01-01T00:00:00+00:00"}},"session_variables":{"x-hasura-role":"admin"},"trace_context":null},"delivery_info":{"current_retry":0,"max_retries":%d},"created_at":"2026-01-01T00:00:00.000001"}`,
		id, tr.Name, tr.RetryConf.NumRetries)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+gw.HTTPAddr()+webhook.Path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(tr.Headers[0].Name, hasuraEnv[tr.Headers[0].ValueFromEnv])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"accepted"`) {
		t.Fatalf("Hasura webhook: %d %s, want 200 accepted", resp.StatusCode, b)
	}

	// Routed to the demo subscriptions of a new user: email and analytics.
	var ev struct {
		Event struct {
			Type string `json:"type"`
		} `json:"event"`
		Deliveries []struct {
			Subscription string `json:"subscription"`
			State        string `json:"state"`
		} `json:"deliveries"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+gw.AdminAddr()+"/v1/events/"+id+"?source=hasura", nil)
		req.Header.Set("Authorization", "Bearer "+gwEnv["HOOKMESH_ADMIN_TOKEN"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /v1/events/%s: %d %s", id, resp.StatusCode, b)
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatal(err)
		}
		var subs []string
		for _, d := range ev.Deliveries {
			if d.State == "DELIVERY_STATE_DELIVERED" {
				subs = append(subs, d.Subscription)
			}
		}
		slices.Sort(subs)
		if strings.Join(subs, ",") == "analytics,email" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("event delivered to %v, want analytics and email (%s)", subs, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ev.Event.Type != "hasura.public.users.insert" {
		t.Errorf("event type %q, want hasura.public.users.insert", ev.Event.Type)
	}
	for host, rc := range consumers {
		got := rc.received(id)
		want := 0
		if host == "email" || host == "analytics" {
			want = 1
		}
		if len(got) != want {
			t.Errorf("%s received the event %d times, want %d", host, len(got), want)
		}
		for _, r := range got {
			if r.GetSubscription() != host || r.GetAttempt() != 1 || r.GetEvent().GetHasuraTable().GetTable() != "users" {
				t.Errorf("%s: delivery %v", host, r)
			}
		}
	}
}

// hookmeshYAMLWithTargets writes deploy/hookmesh.yaml with every host:port target
// replaced by retarget(target); everything else is the file as deployed.
func hookmeshYAMLWithTargets(t *testing.T, retarget func(string) string) string {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(readFile(t, "deploy/hookmesh.yaml"), &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		for i := 0; i+1 < len(n.Content); i++ {
			if n.Kind == yaml.MappingNode && i%2 == 0 && n.Content[i].Value == "target" && !strings.HasPrefix(n.Content[i+1].Value, "builtin:") {
				n.Content[i+1].Value = retarget(n.Content[i+1].Value)
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	b, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "hookmesh.yaml")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// recordingConsumer is an EventConsumerService that accepts everything and
// remembers what it got.
type recordingConsumer struct {
	consumerv1.UnimplementedEventConsumerServiceServer
	addr string
	mu   sync.Mutex
	got  []*consumerv1.DeliverRequest
}

func startRecordingConsumer(t *testing.T) *recordingConsumer {
	t.Helper()
	rc := &recordingConsumer{}
	srv := grpc.NewServer()
	consumerv1.RegisterEventConsumerServiceServer(srv, rc)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc.addr = lis.Addr().String()
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return rc
}

func (rc *recordingConsumer) Deliver(_ context.Context, req *consumerv1.DeliverRequest) (*consumerv1.DeliverResponse, error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.got = append(rc.got, req)
	return &consumerv1.DeliverResponse{}, nil
}

func (rc *recordingConsumer) received(id string) []*consumerv1.DeliverRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []*consumerv1.DeliverRequest
	for _, r := range rc.got {
		if r.GetEvent().GetId() == id {
			out = append(out, r)
		}
	}
	return out
}
