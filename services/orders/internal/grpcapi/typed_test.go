package grpcapi

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	demov1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/demo/v1"
)

func TestTypedRowsFirst(t *testing.T) {
	created := time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)
	typed, err := anypb.New(&demov1.Order{Id: 9007199254740993, CustomerId: 7, Status: "completed", Total: "25",
		Items: []*demov1.OrderItem{{Sku: "MUG", Quantity: 2, Price: "12.5"}}, CreatedAt: timestamppb.New(created)})
	if err != nil {
		t.Fatal(err)
	}
	// The Struct says otherwise: the typed row wins when present.
	s, _ := structpb.NewStruct(map[string]any{"id": 1, "status": "pending", "items": []any{}, "total": 0})
	r, err := orderRow(typed, s)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "9007199254740993" || r.CustomerID != "7" || r.Status != "completed" || r.TotalCents != 2500 ||
		len(r.Items) != 1 || r.Items[0].PriceCents != 1250 || r.Items[0].Quantity != 2 || !r.CreatedAt.Equal(created) {
		t.Fatalf("row %+v", r)
	}
	// Another message (a table mapped elsewhere) or none: the Struct.
	other, _ := anypb.New(&demov1.User{Id: 3})
	for _, a := range []*anypb.Any{nil, other} {
		if r, err := orderRow(a, s); err != nil || r.ID != "1" || r.Status != "pending" {
			t.Fatalf("fallback: %+v %v", r, err)
		}
	}
	if _, err := orderRow(&anypb.Any{TypeUrl: typed.GetTypeUrl(), Value: []byte{0xff}}, s); err == nil {
		t.Fatal("a corrupt typed row was accepted")
	}

	inv, _ := anypb.New(&demov1.InventoryItem{Sku: "MUG", Name: "Mug", Quantity: 5})
	if sku, name, qty, err := inventoryRow(inv, nil); err != nil || sku != "MUG" || name != "Mug" || qty != 5 {
		t.Fatalf("inventory %s %s %d %v", sku, name, qty, err)
	}
	big, _ := structpb.NewStruct(map[string]any{"sku": "MUG", "quantity": "9007199254740993"})
	if _, _, qty, err := inventoryRow(nil, big); err != nil || qty != 9007199254740993 {
		t.Fatalf("struct with an exact bigint: %d %v", qty, err)
	}
}
