package analytics

import (
	"testing"

	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	demov1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/demo/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

func TestTypedRowsFirst(t *testing.T) {
	mustAny := func(m *demov1.Order) *anypb.Any {
		a, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	// The Struct is a stale pending row; the typed rows carry the transition.
	stale, _ := structpb.NewStruct(map[string]any{"id": 1, "customer_id": 1, "status": "pending", "total": 0})
	ev := &eventv1.Event{Payload: &eventv1.Event_HasuraTable{HasuraTable: &eventv1.HasuraTableEvent{
		Op: eventv1.HasuraOperation_HASURA_OPERATION_UPDATE, Old: stale, New: stale,
		TypedOld: mustAny(&demov1.Order{Id: 9007199254740993, CustomerId: 7, Status: "pending"}),
		TypedNew: mustAny(&demov1.Order{Id: 9007199254740993, CustomerId: 7, Status: "completed", Total: "25.5",
			Items: []*demov1.OrderItem{{Sku: "A", Quantity: 2}, {Sku: "B", Quantity: 1}}}),
	}}}
	rec := Record{Properties: map[string]any{}}
	if err := trackOrder(ev, &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Metrics) != 1 || rec.Metrics[0].AmountCents != 2550 || rec.Metrics[0].Items != 3 ||
		rec.Properties["order_id"] != "9007199254740993" || rec.Properties["customer_id"] != "7" {
		t.Fatalf("record %+v", rec)
	}

	user, _ := anypb.New(&demov1.User{Id: 42, Email: "ada@example.com", Name: "Ada"})
	ev = &eventv1.Event{Payload: &eventv1.Event_HasuraTable{HasuraTable: &eventv1.HasuraTableEvent{
		Op: eventv1.HasuraOperation_HASURA_OPERATION_INSERT, New: &structpb.Struct{}, TypedNew: user}}}
	rec = Record{Properties: map[string]any{}}
	if err := trackUserRegistered(ev, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Properties["user_id"] != "42" || rec.Properties["email"] != "ada@example.com" || rec.Properties["registration_method"] != "email" {
		t.Fatalf("record %+v", rec)
	}
}
