package catalog_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/hookmesh/hookmesh/gateway/internal/catalog"
	"github.com/hookmesh/hookmesh/gateway/internal/config"
)

func TestDemoCatalog(t *testing.T) {
	f, err := config.Demo()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(catalog.New(f))
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		EventTypes []catalog.EventType `json:"event_types"`
		Files      []string            `json:"files"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := map[string]catalog.EventType{}
	for _, e := range c.EventTypes {
		got[e.Type] = e
	}
	for typ, want := range map[string]catalog.EventType{
		"hasura.public.users.insert":     {Source: "hasura", Payload: "hookmesh.event.v1.HasuraTableEvent", Row: "hookmesh.demo.v1.User"},
		"hasura.public.inventory.update": {Source: "hasura", Payload: "hookmesh.event.v1.HasuraTableEvent", Row: "hookmesh.demo.v1.InventoryItem"},
		"hasura.*.*.*":                   {Source: "hasura", Payload: "hookmesh.event.v1.HasuraTableEvent"},
		"stripe.*":                       {Source: "stripe", Payload: "hookmesh.event.v1.ProviderWebhook"},
		"webhook.standard.*":             {Source: "standard", Payload: "hookmesh.event.v1.ProviderWebhook"},
		"cron.daily-report":              {Source: "cron", Payload: "hookmesh.event.v1.ScheduledEvent"},
		"orders.*":                       {Source: "orders", Payload: "hookmesh.event.v1.ServiceFact"},
	} {
		want.Type = typ
		if got[typ] != want {
			t.Errorf("%s: %+v, want %+v", typ, got[typ], want)
		}
	}

	// The binary descriptor set is complete: it links on its own.
	for _, accept := range []string{"?format=binpb", ""} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+accept, nil)
		if accept == "" {
			req.Header.Set("Accept", "application/x-protobuf")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var set descriptorpb.FileDescriptorSet
		if err := proto.Unmarshal(b, &set); err != nil {
			t.Fatal(err)
		}
		files, err := protodesc.NewFiles(&set)
		if err != nil {
			t.Fatalf("descriptor set does not link: %v", err)
		}
		for _, name := range []string{"hookmesh.demo.v1.Order", "hookmesh.event.v1.HasuraTableEvent"} {
			if _, err := files.FindDescriptorByName(protoreflect.FullName(name)); err != nil {
				t.Errorf("%s missing: %v", name, err)
			}
		}
	}
	resp, err = http.Get(srv.URL + "?format=xml")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown format: %d", resp.StatusCode)
	}
}
