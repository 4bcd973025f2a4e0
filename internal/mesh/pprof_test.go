package mesh

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestListenPprofRefusesOffLoopbackWithoutToken(t *testing.T) {
	if _, err := listenPprof("0.0.0.0:0", ""); err == nil || !strings.Contains(err.Error(), "HOOKMESH_ADMIN_TOKEN") {
		t.Errorf("0.0.0.0 without a token: %v, want a refusal naming HOOKMESH_ADMIN_TOKEN", err)
	}
	lis, err := listenPprof("0.0.0.0:0", "tok")
	if err != nil {
		t.Fatalf("0.0.0.0 with a token: %v", err)
	}
	_ = lis.Close()
}

func TestPprofListener(t *testing.T) {
	for _, tc := range []struct {
		name   string
		token  string
		host   string
		bearer string
		want   int
	}{
		{name: "loopback, no token", want: http.StatusOK},
		{name: "foreign Host (DNS rebinding)", host: "evil.example", want: http.StatusForbidden},
		{name: "allowed Host", host: "profiler.internal", want: http.StatusOK},
		{name: "token required", token: "s3cret", want: http.StatusUnauthorized},
		{name: "wrong token", token: "s3cret", bearer: "nope", want: http.StatusUnauthorized},
		{name: "right token", token: "s3cret", bearer: "s3cret", want: http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lis, err := listenPprof("127.0.0.1:0", tc.token)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() {
				servePprof(ctx, lis, tc.token, []string{"profiler.internal"}, slog.New(slog.DiscardHandler))
				close(done)
			}()
			t.Cleanup(func() { cancel(); <-done })
			req, _ := http.NewRequest(http.MethodGet, "http://"+lis.Addr().String()+"/debug/pprof/goroutine?debug=1", nil)
			if tc.host != "" {
				req.Host = tc.host
			}
			if tc.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tc.bearer)
			}
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tc.want, body)
			}
			if tc.want == http.StatusOK && !strings.Contains(string(body), "goroutine profile") {
				t.Errorf("not a goroutine profile: %.200s", body)
			}
		})
	}
}
