package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/platform/telemetry"
)

// TestServe runs the standalone wiring on loopback port-0 listeners: health
// over gRPC, /healthz, /metrics, the REST error shape, and a clean stop.
func TestServe(t *testing.T) {
	tel, err := telemetry.Setup(t.Context(), telemetry.Config{Component: "email"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tel.Shutdown(t.Context()) }()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hlis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	cfg := Config{DataDir: t.TempDir(), GRPCAddr: lis.Addr().String(), HTTPAddr: hlis.Addr().String(), AdminToken: "operator-token"}
	go func() { done <- serve(ctx, cfg, tel, slog.New(slog.DiscardHandler), lis, hlis) }()

	// Liveness deadline, not a timing assertion.
	deadline := time.Now().Add(20 * time.Second)
	for Health(t.Context(), cfg) != nil {
		if time.Now().After(deadline) {
			t.Fatal("never became healthy")
		}
		time.Sleep(20 * time.Millisecond)
	}
	base := "http://" + hlis.Addr().String()
	for _, tc := range []struct {
		name     string
		path     string
		token    string
		want     int
		wantBody string
	}{
		{"healthz", "/healthz", "", 200, "ok"},
		{"metrics", "/metrics", "", 200, `hookmesh_email_send_attempts_total{result="sent",transport="outbox"} 0`},
		{"list", "/v1/email/messages", "operator-token", 200, `"messages"`},
		{"list without token", "/v1/email/messages", "", 401, `"code":"unauthenticated"`},
		{"list with a wrong token", "/v1/email/messages", "guess", 401, `"code":"unauthenticated"`},
		{"get unknown", "/v1/email/messages/nope", "operator-token", 404, `"code":"not_found"`},
		// Users open the link without any token.
		// The link shows a page with a button; GET changes nothing.
		{"verify is public and a page", "/v1/email/verify?token=v1.x.y", "", 200, `<form method="post" action="verify">`},
		{"unknown route", "/v1/email/nothing", "operator-token", 404, `"code":"not_found"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, base+tc.path, nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want || !strings.Contains(string(body), tc.wantBody) {
				t.Fatalf("GET %s = %d %s", tc.path, resp.StatusCode, body)
			}
			if tc.want >= 400 {
				var e struct {
					Error struct{ Code, Message string }
				}
				if err := json.Unmarshal(body, &e); err != nil || e.Error.Message == "" {
					t.Errorf("error body %s (%v)", body, err)
				}
			}
		})
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
	if Health(t.Context(), cfg) == nil {
		t.Error("still healthy after stop")
	}
}

func TestServeFailsOnBadConfig(t *testing.T) {
	tel, err := telemetry.Setup(t.Context(), telemetry.Config{Component: "email"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tel.Shutdown(t.Context()) }()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = serve(t.Context(), Config{DataDir: t.TempDir(), GRPCAddr: "x", From: "nobody"}, tel, slog.New(slog.DiscardHandler), lis, nil)
	if err == nil || !strings.Contains(err.Error(), "EMAIL_FROM") {
		t.Fatalf("serve = %v", err)
	}
	if _, err := lis.Accept(); err == nil {
		t.Error("listener left open")
	}
}
