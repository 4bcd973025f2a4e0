// Package catalog lists the event types a config can produce with their payload
// messages, and serves the descriptors of those messages (GET /v1/schemas), so a
// consumer team can generate its types from what the gateway actually sends.
package catalog

import (
	"encoding/json"
	"net/http"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/hookmesh/hookmesh/gateway/internal/config"
	"github.com/hookmesh/hookmesh/gateway/internal/typedrows"
	"github.com/hookmesh/hookmesh/gateway/internal/webhook"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/restgw"
)

// EventType is one event type (or a glob of them, `*` as in subscriptions) and what
// its event carries.
type EventType struct {
	Type   string `json:"type"`
	Source string `json:"source"`
	// Payload is the message in the event's payload oneof.
	Payload string `json:"payload"`
	// Row is the message in typed_old / typed_new (mapped tables only).
	Row string `json:"row,omitempty"`
}

// Catalog is what GET /v1/schemas answers.
type Catalog struct {
	EventTypes []EventType `json:"event_types"`
	// Files are the .proto files of the descriptor set, in dependency order.
	Files []string `json:"files"`
	set   *descriptorpb.FileDescriptorSet
}

var (
	tablePayload     = string((&eventv1.HasuraTableEvent{}).ProtoReflect().Descriptor().FullName())
	scheduledPayload = string((&eventv1.ScheduledEvent{}).ProtoReflect().Descriptor().FullName())
	providerPayload  = string((&eventv1.ProviderWebhook{}).ProtoReflect().Descriptor().FullName())
	factPayload      = string((&eventv1.ServiceFact{}).ProtoReflect().Descriptor().FullName())
)

// providerTypes are the event type globs of each provider kind (DESIGN.md, "Event types").
var providerTypes = map[string]func(source string) string{
	webhook.KindStripe:           func(string) string { return "stripe.*" },
	webhook.KindGitHub:           func(string) string { return "github.*" },
	webhook.KindShopify:          func(string) string { return "shopify.*" },
	webhook.KindSlack:            func(string) string { return "slack.*" },
	webhook.KindStandardWebhooks: func(s string) string { return "webhook." + s + ".*" },
	webhook.KindHMAC:             func(s string) string { return "webhook." + s + ".*" },
}

// New builds the catalog of f.
func New(f *config.File) *Catalog {
	c := &Catalog{}
	files := []protoreflect.FileDescriptor{eventv1.File_hookmesh_event_v1_event_proto}
	for i := range f.Sources {
		s := &f.Sources[i]
		if s.Kind != webhook.KindHasura {
			if typ, ok := providerTypes[s.Kind]; ok {
				c.add(EventType{Type: typ(s.Name), Source: s.Name, Payload: providerPayload})
			}
			continue
		}
		for _, t := range s.Rows().Tables() {
			for _, op := range []string{"insert", "update", "delete", "manual"} {
				c.add(EventType{Type: "hasura." + t.Schema + "." + t.Table + "." + op, Source: s.Name,
					Payload: tablePayload, Row: string(t.Message.FullName())})
			}
			files = append(files, t.Message.ParentFile())
		}
		c.add(EventType{Type: "hasura.*.*.*", Source: s.Name, Payload: tablePayload}) // unmapped tables: the Struct only
		c.add(EventType{Type: "hasura.cron.*", Source: s.Name, Payload: scheduledPayload})
		c.add(EventType{Type: "hasura.scheduled", Source: s.Name, Payload: scheduledPayload})
	}
	for _, s := range f.Schedules {
		c.add(EventType{Type: "cron." + s.Name, Source: "cron", Payload: scheduledPayload})
	}
	c.add(EventType{Type: "scheduled.*", Source: "scheduled", Payload: scheduledPayload})
	for _, p := range f.Publishers {
		for _, typ := range p.Types {
			c.add(EventType{Type: typ, Source: p.Name, Payload: factPayload})
		}
	}
	c.set = typedrows.FileSet(files...)
	for _, fd := range c.set.GetFile() {
		c.Files = append(c.Files, fd.GetName())
	}
	return c
}

func (c *Catalog) add(e EventType) { c.EventTypes = append(c.EventTypes, e) }

// FileDescriptorSet holds the envelope's and every row message's files with their
// imports, in dependency order (protoc --descriptor_set_in, buf build inputs).
func (c *Catalog) FileDescriptorSet() *descriptorpb.FileDescriptorSet { return c.set }

// Descriptor-set media types: buf's and the generic protobuf one.
var binaryTypes = map[string]bool{"application/x-protobuf": true, "application/protobuf": true, "application/vnd.google.protobuf": true}

// ServeHTTP answers JSON, or the binary FileDescriptorSet for ?format=binpb or an
// Accept of application/x-protobuf.
func (c *Catalog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	if format == "" && binaryTypes[r.Header.Get("Accept")] {
		format = "binpb"
	}
	switch format {
	case "", "json":
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(c)
	case "binpb":
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(c.set)
		if err != nil {
			restgw.WriteError(w, http.StatusInternalServerError, "internal", "descriptor set: "+err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Header().Set("Content-Disposition", `attachment; filename="hookmesh-schemas.binpb"`)
		_, _ = w.Write(b)
	default:
		restgw.WriteError(w, http.StatusBadRequest, "invalid_argument", "format must be json or binpb")
	}
}
