// Package restcontract_test checks that the OpenAPI document is the wire: the Go
// client that oapi-codegen generates from it (gen/openapi/hookmeshclient) pages
// through events and decodes errors against a real gateway on loopback.
package restcontract_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/gateway"
	"github.com/hookmesh/hookmesh/gateway/gatewaytest"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/gen/openapi/hookmeshclient"
	"github.com/hookmesh/hookmesh/platform/eventually"
	"github.com/hookmesh/hookmesh/platform/grpcauth"
	"github.com/hookmesh/hookmesh/platform/grpcserver/grpcservertest"
)

const token = "contract-admin-token"

// startGateway runs a gateway with an admin token and returns its base URL and
// gRPC address.
func startGateway(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "hookmesh.yaml")
	yaml := "sources:\n  - name: hasura\n    kind: hasura\n    secrets_from_env: [HASURA_WEBHOOK_SECRET]\n"
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	g, err := gateway.New(ctx, gateway.Config{DataDir: filepath.Join(dir, "data"), HTTPAddr: "127.0.0.1:0", AdminToken: token, ConfigFile: cfgFile},
		gateway.Deps{
			Logger:  slog.New(slog.DiscardHandler),
			Secrets: func(string) (string, bool, error) { return "hasura-secret", true, nil },
		})
	if err != nil {
		t.Fatal(err)
	}
	return gatewaytest.Run(t, g), g.GRPCAddr()
}

func bearer(_ context.Context, req *http.Request) error {
	req.Header.Set("Authorization", "Bearer "+token)
	return nil
}

func TestGeneratedClientPagesThroughEvents(t *testing.T) {
	base, grpcAddr := startGateway(t)
	pub := eventv1.NewPublisherServiceClient(grpcservertest.MustDial(t, grpcAddr, grpcauth.WithBearer(token)))
	const n = 5
	var want []string
	for i := range n {
		id := fmt.Sprintf("contract-%d", i)
		want = append(want, id)
		if _, err := pub.Publish(t.Context(), &eventv1.PublishRequest{Event: &eventv1.Event{Source: "contract", Id: id, Type: "test.contract"}}); err != nil {
			t.Fatal(err)
		}
	}
	client, err := hookmeshclient.NewClientWithResponses(base, hookmeshclient.WithRequestEditorFn(bearer))
	if err != nil {
		t.Fatal(err)
	}
	source, size := "contract", int32(2)
	var got []string
	pages := 0
	eventually.NoError(t, 10*time.Second, "all published events listed", func() error {
		got, pages = nil, 0
		var pageToken *string
		for {
			resp, err := client.AdminServiceListEventsWithResponse(t.Context(), &hookmeshclient.AdminServiceListEventsParams{
				Source: &source, PageSize: &size, PageToken: pageToken})
			if err != nil {
				return err
			}
			if resp.JSON200 == nil {
				return fmt.Errorf("page %d: status %d: %s", pages, resp.StatusCode(), resp.Body)
			}
			pages++
			for _, e := range *resp.JSON200.Events {
				if e.ReceivedTime == nil || e.ReceivedTime.IsZero() || e.Type == nil || *e.Type != "test.contract" {
					return fmt.Errorf("event %+v lacks received_time or type", e)
				}
				got = append(got, *e.Id)
			}
			next := resp.JSON200.NextPageToken
			if next == nil || *next == "" {
				break
			}
			pageToken = next
		}
		if len(got) != n {
			return fmt.Errorf("listed %q over %d pages, want %d events", got, pages, n)
		}
		return nil
	})
	if pages != 3 {
		t.Errorf("%d events in pages of %d: %d pages, want 3", n, size, pages)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("listed %q, want %q", got, want)
	}
}

func TestGeneratedClientDecodesErrors(t *testing.T) {
	base, _ := startGateway(t)
	authed, err := hookmeshclient.NewClientWithResponses(base, hookmeshclient.WithRequestEditorFn(bearer))
	if err != nil {
		t.Fatal(err)
	}
	anonymous, err := hookmeshclient.NewClientWithResponses(base)
	if err != nil {
		t.Fatal(err)
	}
	source := "contract"
	tests := []struct {
		name   string
		call   func() (*hookmeshclient.AdminServiceGetEventResponse, error)
		status int
		code   string
		body   func(*hookmeshclient.AdminServiceGetEventResponse) *hookmeshclient.V1ErrorResponse
	}{
		{"unknown event", func() (*hookmeshclient.AdminServiceGetEventResponse, error) {
			return authed.AdminServiceGetEventWithResponse(t.Context(), "no-such-event", &hookmeshclient.AdminServiceGetEventParams{Source: &source})
		}, http.StatusNotFound, "not_found", func(r *hookmeshclient.AdminServiceGetEventResponse) *hookmeshclient.V1ErrorResponse { return r.JSON404 }},
		{"no bearer", func() (*hookmeshclient.AdminServiceGetEventResponse, error) {
			return anonymous.AdminServiceGetEventWithResponse(t.Context(), "no-such-event", &hookmeshclient.AdminServiceGetEventParams{Source: &source})
		}, http.StatusUnauthorized, "unauthenticated", func(r *hookmeshclient.AdminServiceGetEventResponse) *hookmeshclient.V1ErrorResponse { return r.JSON401 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.call()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode() != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode(), tt.status, resp.Body)
			}
			e := tt.body(resp)
			if e == nil || e.Error == nil || e.Error.Code == nil || *e.Error.Code != tt.code || e.Error.Message == nil || *e.Error.Message == "" {
				t.Fatalf("decoded error %+v from %s, want code %q and a message", e, resp.Body, tt.code)
			}
		})
	}
}
