package cloudevents

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	sdk "github.com/cloudevents/sdk-go/v2/event"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// parse reads b with the CloudEvents SDK and requires a valid event.
func parse(t *testing.T, b []byte) sdk.Event {
	t.Helper()
	var e sdk.Event
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("SDK: %v\n%s", err, b)
	}
	if err := e.Validate(); err != nil {
		t.Fatalf("invalid: %v\n%s", err, b)
	}
	return e
}

func TestMarshal(t *testing.T) {
	at := time.Date(2026, 5, 1, 9, 30, 0, 250_000_000, time.UTC)
	base := func() *eventv1.Event {
		return &eventv1.Event{Id: "e-1", Source: "orders", Type: "orders.shipment.created", Time: timestamppb.New(at)}
	}

	t.Run("fact payload, extensions", func(t *testing.T) {
		ev := base()
		ev.Subject = "orders/42"
		ev.Dataschema = "https://example.com/schemas/shipment.json"
		ev.Extensions = map[string]string{"tenant": "acme", "hookmesh.schema_mismatch": "x", "ID": "y", "source": "z"}
		ev.Payload = &eventv1.Event_Fact{Fact: &eventv1.ServiceFact{Service: "orders", Data: structpb.NewStringValue("9007199254740993")}}
		b, err := Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), `{"specversion":"1.0",`) {
			t.Fatalf("specversion first: %s", b)
		}
		e := parse(t, b)
		if e.ID() != "e-1" || e.Source() != "orders" || e.Subject() != "orders/42" || !e.Time().Equal(at) ||
			e.DataSchema() != ev.Dataschema || e.DataContentType() != "application/json" {
			t.Fatalf("attributes: %s", b)
		}
		// Names the JSON format forbids, or that a context attribute owns, are left out.
		if ext := e.Extensions(); len(ext) != 1 || ext["tenant"] != "acme" {
			t.Fatalf("extensions %v", ext)
		}
		var data map[string]any // compared decoded: protojson's spacing varies by build
		if err := json.Unmarshal(e.Data(), &data); err != nil || len(data) != 3 || data["service"] != "orders" ||
			data["data"] != "9007199254740993" || data["caused_by"] != nil {
			t.Fatalf("data %s (%v)", e.Data(), err)
		}
	})

	t.Run("no payload: JSON body as data", func(t *testing.T) {
		ev := base()
		ev.OriginalBody = []byte(`{"n":9007199254740993}`)
		b, _ := Marshal(ev)
		if e := parse(t, b); string(e.Data()) != `{"n":9007199254740993}` || e.Subject() != "" {
			t.Fatalf("%s", b)
		}
		if strings.Contains(string(b), `"subject"`) || strings.Contains(string(b), `"traceparent"`) {
			t.Fatalf("empty optional attributes written: %s", b)
		}
	})

	t.Run("no payload: other body as data_base64", func(t *testing.T) {
		ev := base()
		ev.Datacontenttype = "application/x-www-form-urlencoded"
		ev.OriginalBody = []byte("a=1&b=2")
		b, _ := Marshal(ev)
		e := parse(t, b)
		if string(e.Data()) != "a=1&b=2" || e.DataContentType() != ev.Datacontenttype || !strings.Contains(string(b), `"data_base64":"YT0xJmI9Mg=="`) {
			t.Fatalf("%s", b)
		}
	})
}
