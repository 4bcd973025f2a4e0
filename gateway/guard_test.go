package gateway

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hookmesh/hookmesh/gateway/internal/config"
	"github.com/hookmesh/hookmesh/platform/browserguard"
)

const pauseConfig = testConfig + `subscriptions:
  - name: email
    target: builtin:gateway
    events: [cron.health-check]
`

// paused reads whether subscription name is paused through GET /v1/subscriptions.
func paused(t *testing.T, base, name string) bool {
	t.Helper()
	status, body := get(t, base+"/v1/subscriptions", "")
	if status != http.StatusOK {
		t.Fatalf("list subscriptions: %d %v", status, body)
	}
	subs, _ := body["subscriptions"].([]any)
	for _, s := range subs {
		if m, _ := s.(map[string]any); m["name"] == name {
			p, _ := m["paused"].(bool)
			return p
		}
	}
	t.Fatalf("subscription %s not listed: %v", name, body)
	return false
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// The attacks of issue 17 item 3 on the default loopback admin (no token): a
// page's form post pausing a subscription, and a rebound DNS name reading events.
func TestAdminRefusesBrowserAttacks(t *testing.T) {
	file, err := config.Parse([]byte(pauseConfig))
	if err != nil {
		t.Fatal(err)
	}
	g := start(t, Config{}, Deps{File: file})
	base := "http://" + g.AdminAddr()

	t.Run("cross-site pause", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/subscriptions/email:pause", strings.NewReader("{}"))
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("Origin", "http://evil.example")
		status, body := call(t, req)
		if status != http.StatusForbidden || errCode(body) != browserguard.CodeForbiddenCrossSite {
			t.Fatalf("cross-site pause: %d %v", status, body)
		}
		if paused(t, base, "email") {
			t.Fatal("the cross-site request paused the subscription")
		}
	})
	t.Run("cross-site fetch metadata", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/subscriptions/email:pause", strings.NewReader("{}"))
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if status, body := call(t, req); status != http.StatusForbidden {
			t.Fatalf("Sec-Fetch-Site cross-site: %d %v", status, body)
		}
		if paused(t, base, "email") {
			t.Fatal("paused")
		}
	})
	t.Run("cross-site console action", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, base+"/console/logout", nil)
		req.Header.Set("Origin", "http://evil.example")
		if status, body := call(t, req); status != http.StatusForbidden || errCode(body) != browserguard.CodeForbiddenCrossSite {
			t.Fatalf("cross-site console logout: %d %v", status, body)
		}
	})
	t.Run("rebound host", func(t *testing.T) {
		for _, path := range []string{"/v1/events", "/console/", "/metrics"} {
			req, _ := http.NewRequest(http.MethodGet, base+path, nil)
			req.Host = "evil.example"
			if status, body := call(t, req); status != http.StatusForbidden || errCode(body) != browserguard.CodeForbiddenHost {
				t.Fatalf("%s with Host evil.example: %d %v", path, status, body)
			}
		}
	})
	t.Run("webhooks take any host", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, base+"/healthz", nil)
		req.Host = "hooks.example.com"
		if status, body := call(t, req); status != http.StatusOK {
			t.Fatalf("/healthz under a public name: %d %v", status, body)
		}
	})
	t.Run("same-origin pause still works", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/subscriptions/email:pause", strings.NewReader("{}"))
		req.Header.Set("Origin", base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		if status, body := call(t, req); status != http.StatusOK {
			t.Fatalf("same-origin pause: %d %v", status, body)
		}
		if !paused(t, base, "email") {
			t.Fatal("not paused")
		}
	})
}

func TestAllowedHosts(t *testing.T) {
	g := start(t, Config{AllowedHosts: []string{"hookmesh.internal"}}, Deps{})
	req, _ := http.NewRequest(http.MethodGet, "http://"+g.AdminAddr()+"/v1/events", nil)
	req.Host = "hookmesh.internal:8443"
	if status, body := call(t, req); status != http.StatusOK {
		t.Fatalf("allowed host: %d %v", status, body)
	}
}
