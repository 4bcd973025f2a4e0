package grpcapi

import (
	"strconv"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	demov1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/demo/v1"
	"github.com/hookmesh/hookmesh/services/orders/internal/orders"
)

// Typed rows: when the gateway maps public.orders / public.inventory to
// hookmesh.demo.v1 (the demo config does), a row arrives as that message in
// typed_old / typed_new; otherwise (another message, an unmapped table) the
// Struct is read as before.

// unpacked reports whether a holds m's type, and fills m.
func unpacked(a *anypb.Any, m proto.Message) (bool, error) {
	if a == nil || !a.MessageIs(m) {
		return false, nil
	}
	if err := a.UnmarshalTo(m); err != nil {
		return false, orders.Invalidf("typed row %s: %v", a.GetTypeUrl(), err)
	}
	return true, nil
}

// orderRow reads an orders row, typed when present.
func orderRow(typed *anypb.Any, s *structpb.Struct) (*orders.OrderRow, error) {
	var o demov1.Order
	if ok, err := unpacked(typed, &o); !ok || err != nil {
		if err != nil {
			return nil, err
		}
		return decodeOrderRow(s)
	}
	if o.GetId() == 0 {
		return nil, orders.Invalidf("row has no id")
	}
	r := &orders.OrderRow{ID: strconv.FormatInt(o.GetId(), 10), Status: o.GetStatus()}
	if o.GetCustomerId() != 0 {
		r.CustomerID = strconv.FormatInt(o.GetCustomerId(), 10)
	}
	for i, it := range o.GetItems() {
		item := orders.Item{SKU: it.GetSku(), Quantity: it.GetQuantity()}
		if it.GetPrice() != "" {
			var err error
			if item.PriceCents, err = orders.ParseCents(it.GetPrice()); err != nil {
				return nil, orders.Invalidf("item %d price: %v", i, err)
			}
		}
		r.Items = append(r.Items, item)
	}
	if o.GetTotal() != "" {
		var err error
		if r.TotalCents, err = orders.ParseCents(o.GetTotal()); err != nil {
			return nil, err
		}
	} else {
		for _, it := range r.Items {
			r.TotalCents += it.Quantity * it.PriceCents
		}
	}
	if o.GetCreatedAt() != nil {
		r.CreatedAt = o.GetCreatedAt().AsTime()
	}
	return r, nil
}

// inventoryRow reads an inventory row, typed when present.
func inventoryRow(typed *anypb.Any, s *structpb.Struct) (sku, name string, qty int64, err error) {
	var it demov1.InventoryItem
	ok, err := unpacked(typed, &it)
	switch {
	case err != nil:
		return "", "", 0, err
	case !ok:
		return structInventoryRow(s)
	case it.GetSku() == "":
		return "", "", 0, orders.Invalidf("row has no sku")
	}
	return it.GetSku(), it.GetName(), int64(it.GetQuantity()), nil
}
