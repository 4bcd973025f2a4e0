package mesh

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/grpcauth"
	"github.com/hookmesh/hookmesh/platform/grpcserver/grpcservertest"
)

// In the all-in-one process each service's loopback port requires the token
// the process generated: another user of the machine cannot forge a Deliver.
// (The other mesh tests show the gateway's deliveries carry it.)
func TestMeshServicesRequireTheirToken(t *testing.T) {
	r := startMesh(t)
	if len(r.mesh.ServiceAddrs) != 3 {
		t.Fatalf("service addresses %v", r.mesh.ServiceAddrs)
	}
	for name, addr := range r.mesh.ServiceAddrs {
		t.Run(name, func(t *testing.T) {
			for _, bearer := range []string{"", "guess"} {
				_, err := consumerv1.NewEventConsumerServiceClient(grpcservertest.MustDial(t, addr, grpcauth.WithBearer(bearer))).
					Deliver(t.Context(), &consumerv1.DeliverRequest{Event: &eventv1.Event{Id: "forged", Source: "hasura", Type: "hasura.public.users.insert"}})
				if status.Code(err) != codes.Unauthenticated {
					t.Fatalf("Deliver with %q: %v, want Unauthenticated", bearer, err)
				}
			}
			resp, err := healthpb.NewHealthClient(grpcservertest.MustDial(t, addr)).Check(t.Context(), &healthpb.HealthCheckRequest{})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("health: %v %v", resp.GetStatus(), err)
			}
		})
	}
}

// Issue 17 in the all-in-one process: a private data dir, and a verification
// link that opens a page (GET) and confirms only on POST.
func TestMeshDataDirAndVerifyPage(t *testing.T) {
	r := startMesh(t)
	// Issue 17: the data dir is private and so are the services' databases.
	modes := map[string]os.FileMode{".": 0o700, "email.db": 0o600, "analytics.db": 0o600, "orders.db": 0o600}
	for name, want := range modes {
		fi, err := os.Stat(filepath.Join(r.dataDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode %o, want %o", name, got, want)
		}
	}
	// The verification link on the gateway opens the page; its POST reaches the email API.
	resp, err := http.Get(r.base + "/v1/email/verify?token=v1.x.y")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `<form method="post" action="verify">`) {
		t.Fatalf("GET the verification link: %d %s", resp.StatusCode, body)
	}
	resp, err = http.PostForm(r.base+"/v1/email/verify", url.Values{"token": {"v1.x.y"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "not valid") {
		t.Fatalf("POST a forged token: %d %s", resp.StatusCode, body)
	}
}

func TestOrdersPublisher(t *testing.T) {
	t.Run("demo generates one the gateway resolves", func(t *testing.T) {
		t.Setenv(OrdersPublisherEnv, "")
		p, err := ordersPublisher(Config{})
		if err != nil || len(p.token) != 64 {
			t.Fatalf("token %q, %v", p.token, err)
		}
		if v, ok, err := p.secrets(OrdersPublisherEnv); !ok || err != nil || v != p.token {
			t.Fatalf("gateway lookup: %q %v %v", v, ok, err)
		}
	})
	t.Run("demo takes the environment's", func(t *testing.T) {
		t.Setenv(OrdersPublisherEnv, "from-env")
		p, err := ordersPublisher(Config{})
		if err != nil || p.token != "from-env" {
			t.Fatalf("token %q, %v", p.token, err)
		}
	})
	t.Run("PUBLISHER_TOKEN wins", func(t *testing.T) {
		t.Setenv(OrdersPublisherEnv, "from-env")
		var cfg Config
		cfg.Orders.PublisherToken = "explicit"
		if p, _ := ordersPublisher(cfg); p.token != "explicit" {
			t.Fatalf("token %q", p.token)
		}
	})
	t.Run("own config falls back to the admin token", func(t *testing.T) {
		var cfg Config
		cfg.Gateway.ConfigFile, cfg.Gateway.AdminToken = "/etc/hookmesh.yaml", "admin"
		if p, _ := ordersPublisher(cfg); p.token != "admin" {
			t.Fatalf("token %q", p.token)
		}
	})
	t.Run("unreadable _FILE", func(t *testing.T) {
		t.Setenv(OrdersPublisherEnv, "")
		t.Setenv(OrdersPublisherEnv+"_FILE", t.TempDir()+"/none")
		if _, err := ordersPublisher(Config{}); err == nil {
			t.Fatal("accepted")
		}
	})
}
