package eventlog_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// External nats-server processes, built by scripts/nats-server.sh from the module
// version the gateway embeds (never the machine's own, older nats-server).

// natsServerBin returns .tools/bin/nats-server under the repository root. Without it
// the test skips, except under CI=true where it fails.
func natsServerBin(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("repository root (go.work) not found above the test's directory")
		}
		dir = parent
	}
	bin := filepath.Join(dir, ".tools", "bin", "nats-server")
	if _, err := os.Stat(bin); err != nil {
		msg := "no " + bin + ": run scripts/nats-server.sh to build the pinned nats-server"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", bin, err)
	}
	if want := embeddedServerVersion(t); !strings.HasSuffix(strings.TrimSpace(string(out)), " "+want) {
		t.Fatalf("%s is %q but the gateway embeds %s: run scripts/nats-server.sh", bin, strings.TrimSpace(string(out)), want)
	}
	return bin
}

// embeddedServerVersion is the version of the server linked into the gateway.
func embeddedServerVersion(testing.TB) string { return "v" + server.VERSION }

type natsProc struct {
	name      string
	dir       string
	conf      string
	clientURL string
	cmd       *exec.Cmd
	stderr    *strings.Builder
}

type natsOptions struct {
	name       string
	maxPayload string // e.g. "8MB"; empty = server default (1 MB)
	port       int    // client port; 0 = any free one
	cluster    string // cluster block, or empty
}

// startNATS starts nats-server with JetStream on a temp store and loopback ports.
func startNATS(t testing.TB, bin, dir string, o natsOptions) *natsProc {
	t.Helper()
	if o.name == "" {
		o.name = "n1"
	}
	listen := "127.0.0.1:-1"
	if o.port > 0 {
		listen = fmt.Sprintf("127.0.0.1:%d", o.port)
	}
	var conf strings.Builder
	fmt.Fprintf(&conf, "server_name: %q\nlisten: %q\nports_file_dir: %q\n", o.name, listen, dir)
	fmt.Fprintf(&conf, "jetstream { store_dir: %q }\n", filepath.Join(dir, "js"))
	if o.maxPayload != "" {
		fmt.Fprintf(&conf, "max_payload: %s\n", o.maxPayload)
	}
	conf.WriteString(o.cluster)
	p := &natsProc{name: o.name, dir: dir, conf: filepath.Join(dir, "nats.conf")}
	if err := os.WriteFile(p.conf, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	p.start(t, bin)
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("nats-server %s log:\n%s", p.name, p.stderr.String())
		}
	})
	return p
}

func (p *natsProc) start(t testing.TB, bin string) {
	t.Helper()
	p.stderr = &strings.Builder{}
	p.cmd = exec.Command(bin, "-c", p.conf)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start nats-server: %v", err)
	}
	portsFile := filepath.Join(p.dir, fmt.Sprintf("nats-server_%d.ports", p.cmd.Process.Pid))
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, err := os.ReadFile(portsFile)
		if err == nil {
			var ports struct {
				Nats []string `json:"nats"`
			}
			if json.Unmarshal(data, &ports) == nil && len(ports.Nats) > 0 {
				p.clientURL = ports.Nats[0]
				return
			}
		}
		if time.Now().After(deadline) {
			p.kill()
			t.Fatalf("nats-server %s did not start: %s", p.name, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill SIGKILLs the server, as a crash would.
func (p *natsProc) kill() {
	if p.cmd == nil || p.cmd.Process == nil || p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

// stop ends the server with sig (SIGTERM: a clean shutdown, which hands the leaders
// it holds to other nodes first) and waits for it to exit.
func (p *natsProc) stop(sig syscall.Signal) {
	if p.cmd == nil || p.cmd.Process == nil || p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	_ = p.cmd.Wait()
}

func (p *natsProc) port(t testing.TB) int {
	t.Helper()
	_, port, err := net.SplitHostPort(strings.TrimPrefix(p.clientURL, "nats://"))
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if _, err := fmt.Sscan(port, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// freePorts reserves n loopback ports and releases them for a server to take.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
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

// startCluster starts a 3-node JetStream cluster.
func startCluster(t testing.TB, bin string) []*natsProc {
	t.Helper()
	routePorts := freePorts(t, 3)
	var routes []string
	for _, p := range routePorts {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	var nodes []*natsProc
	for i, rp := range routePorts {
		cluster := fmt.Sprintf("cluster { name: hookmesh-test\n listen: \"127.0.0.1:%d\"\n routes: [%s] }\n",
			rp, strings.Join(routes, ", "))
		nodes = append(nodes, startNATS(t, bin, t.TempDir(), natsOptions{
			name: fmt.Sprintf("n%d", i+1), maxPayload: "8MB", cluster: cluster,
		}))
	}
	return nodes
}
