package browserguard_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hookmesh/hookmesh/platform/browserguard"
)

func ok(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }

// errorCode sends req and returns the status and the JSON error code, if any.
func errorCode(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Error.Code
}

func TestHosts(t *testing.T) {
	srv := httptest.NewServer(browserguard.Hosts([]string{"gateway", "Admin.Example.com:443"})(http.HandlerFunc(ok)))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, tc := range []struct {
		host string
		want int
	}{
		{"127.0.0.1:" + port, http.StatusOK},
		{"127.0.0.2", http.StatusOK},
		{"localhost:" + port, http.StatusOK},
		{"LOCALHOST.", http.StatusOK},
		{"[::1]:8090", http.StatusOK},
		{"gateway:8090", http.StatusOK},
		{"admin.example.com", http.StatusOK},
		{"evil.example", http.StatusForbidden},
		{"evil.example:" + port, http.StatusForbidden},
		{"localhost.evil.example", http.StatusForbidden},
		{"10.1.2.3", http.StatusForbidden}, // not the address the connection arrived on
	} {
		t.Run(tc.host, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/events", nil)
			req.Host = tc.host
			status, code := errorCode(t, req)
			if status != tc.want {
				t.Fatalf("Host %q: %d, want %d", tc.host, status, tc.want)
			}
			if status == http.StatusForbidden && code != browserguard.CodeForbiddenHost {
				t.Fatalf("Host %q: code %q", tc.host, code)
			}
		})
	}
}

// A listener on all interfaces takes its own address as a Host: what a client
// dialling the machine's IP sends.
func TestHostsOwnAddress(t *testing.T) {
	lis, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(browserguard.Hosts(nil)(http.HandlerFunc(ok)))
	_ = srv.Listener.Close()
	srv.Listener = lis
	srv.Start()
	defer srv.Close()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(lis.Addr().String())
	tested := false
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.To4() == nil || ipn.IP.IsLinkLocalUnicast() {
			continue
		}
		hp := net.JoinHostPort(ipn.IP.String(), port)
		req, _ := http.NewRequest(http.MethodGet, "http://"+hp+"/metrics", nil)
		if status, _ := errorCode(t, req); status != http.StatusOK {
			t.Fatalf("own address %s: %d", hp, status)
		}
		tested = true
	}
	if !tested {
		t.Skip("no non-loopback IPv4 interface to dial")
	}
}
