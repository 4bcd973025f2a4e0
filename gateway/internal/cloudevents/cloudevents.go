// Package cloudevents renders an event in the CloudEvents 1.0 JSON format
// (GET /v1/events/{id}?format=cloudevents). The envelope already uses CloudEvents
// attribute names; this adds specversion and puts the typed payload in data.
package cloudevents

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/restgw"
)

const (
	// SpecVersion is the CloudEvents version the rendering follows; the envelope
	// has no field for it.
	SpecVersion = "1.0"
	// MediaType is the structured-mode JSON media type.
	MediaType = "application/cloudevents+json"
	// Format is the value of ?format= that selects this rendering.
	Format = "cloudevents"
)

// extensionName is what the JSON format allows as an attribute name.
var extensionName = regexp.MustCompile(`^[a-z0-9]+$`)

// context attributes the envelope fills itself: an extension of that name is dropped.
var reserved = map[string]bool{
	"specversion": true, "id": true, "source": true, "type": true, "subject": true, "time": true,
	"datacontenttype": true, "dataschema": true, "data": true, "traceparent": true, "tracestate": true,
}

// payloadJSON renders the payload as the REST API does (proto names): int64
// fields and Struct numbers beyond 2^53 are strings, so integers stay exact.
var payloadJSON = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

// Marshal renders ev as one CloudEvent in the JSON format: the envelope's
// attributes, data = the typed payload (HasuraTableEvent, ScheduledEvent,
// ProviderWebhook or ServiceFact) as JSON, traceparent/tracestate as the
// distributed tracing extension, and the envelope's extensions whose names the
// format allows. An event without a payload carries its original body: as JSON
// data when it is JSON, else as data_base64 with its own media type.
func Marshal(ev *eventv1.Event) ([]byte, error) {
	var b obj
	b.str("specversion", SpecVersion)
	b.str("id", ev.GetId())
	b.str("source", ev.GetSource()) // the source name: a relative URI-reference ([A-Za-z0-9_-])
	b.str("type", ev.GetType())
	b.opt("subject", ev.GetSubject())
	if ev.GetTime() != nil {
		b.str("time", ev.GetTime().AsTime().Format(time.RFC3339Nano))
	}
	b.opt("dataschema", ev.GetDataschema())
	b.opt("traceparent", ev.GetTraceparent())
	b.opt("tracestate", ev.GetTracestate())
	names := make([]string, 0, len(ev.GetExtensions()))
	for k := range ev.GetExtensions() {
		if extensionName.MatchString(k) && !reserved[k] {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		b.str(k, ev.GetExtensions()[k])
	}
	if err := b.data(ev); err != nil {
		return nil, err
	}
	return b.close(), nil
}

func (b *obj) data(ev *eventv1.Event) error {
	m := ev.ProtoReflect()
	if fd := m.WhichOneof(m.Descriptor().Oneofs().ByName("payload")); fd != nil {
		data, err := payloadJSON.Marshal(m.Get(fd).Message().Interface())
		if err != nil {
			return fmt.Errorf("cloudevents: payload of %s/%s: %w", ev.GetSource(), ev.GetId(), err)
		}
		b.str("datacontenttype", "application/json")
		b.raw("data", data)
		return nil
	}
	body := ev.GetOriginalBody()
	if len(body) == 0 {
		return nil
	}
	if json.Valid(body) {
		b.str("datacontenttype", "application/json")
		b.raw("data", body)
		return nil
	}
	b.opt("datacontenttype", ev.GetDatacontenttype())
	enc, _ := json.Marshal(body) // []byte encodes as base64
	b.raw("data_base64", enc)
	return nil
}

// obj writes a JSON object in attribute order (specversion first, data last).
type obj struct{ buf bytes.Buffer }

func (b *obj) raw(k string, v []byte) {
	if b.buf.Len() == 0 {
		b.buf.WriteByte('{')
	} else {
		b.buf.WriteByte(',')
	}
	kb, _ := json.Marshal(k)
	b.buf.Write(kb)
	b.buf.WriteByte(':')
	b.buf.Write(v)
}

func (b *obj) str(k, v string) {
	vb, _ := json.Marshal(v)
	b.raw(k, vb)
}

// opt writes k only when v is set: CloudEvents forbids empty optional attributes.
func (b *obj) opt(k, v string) {
	if v != "" {
		b.str(k, v)
	}
}

func (b *obj) close() []byte {
	b.buf.WriteString("}\n")
	return b.buf.Bytes()
}

// Route sends GET /v1/events/{id} requests with a format to ce and the rest
// (no format, or format=) to next, the grpc-gateway route, unchanged. ce does its
// own auth.
func Route(ce, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("format") == "" {
			next.ServeHTTP(w, r)
			return
		}
		ce.ServeHTTP(w, r)
	})
}

// Handler serves GET /v1/events/{id}?format=cloudevents[&source=…] through
// AdminService.GetEvent, so errors (404 not_found, an id two sources share) are
// the REST route's own.
type Handler struct{ Admin adminv1.AdminServiceClient }

func (h Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if f := q.Get("format"); f != Format {
		restgw.WriteError(w, http.StatusBadRequest, "invalid_argument",
			fmt.Sprintf("format: %q is not a known format (want %q, or no format for the event as JSON)", f, Format))
		return
	}
	resp, err := h.Admin.GetEvent(r.Context(), &adminv1.GetEventRequest{Id: r.PathValue("id"), Source: q.Get("source")})
	if err != nil {
		restgw.WriteStatus(w, err)
		return
	}
	body, err := Marshal(resp.GetEvent())
	if err != nil {
		restgw.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	w.Header().Set("Content-Type", MediaType)
	_, _ = w.Write(body)
}
