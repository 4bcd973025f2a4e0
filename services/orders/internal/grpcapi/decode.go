package grpcapi

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/services/orders/internal/orders"
)

// eventTime is when the event happened: Hasura's created_at, the envelope's time,
// or when the gateway received it.
func eventTime(ev *eventv1.Event) time.Time {
	if ht := ev.GetHasuraTable(); ht.GetCreatedAt() != nil {
		return ht.GetCreatedAt().AsTime()
	}
	if ev.GetTime() != nil {
		return ev.GetTime().AsTime()
	}
	if ev.GetReceivedTime() != nil {
		return ev.GetReceivedTime().AsTime()
	}
	return time.Time{}
}

// decodeOrderChange reads a hasura.public.orders.* event.
func decodeOrderChange(ev *eventv1.Event, ht *eventv1.HasuraTableEvent) (orders.OrderChange, error) {
	c := orders.OrderChange{At: eventTime(ev)}
	var err error
	switch ht.GetOp() {
	case eventv1.HasuraOperation_HASURA_OPERATION_INSERT:
		c.Op = orders.OpInsert
	case eventv1.HasuraOperation_HASURA_OPERATION_UPDATE:
		c.Op = orders.OpUpdate
	case eventv1.HasuraOperation_HASURA_OPERATION_DELETE:
		c.Op = orders.OpDelete
	case eventv1.HasuraOperation_HASURA_OPERATION_MANUAL:
		c.Op = orders.OpManual
	default:
		return c, orders.Invalidf("hasura event has no operation")
	}
	if c.Op != orders.OpInsert && c.Op != orders.OpManual && ht.GetOld() != nil {
		if c.Old, err = orderRow(ht.GetTypedOld(), ht.GetOld()); err != nil {
			return c, err
		}
	}
	if c.Op != orders.OpDelete && ht.GetNew() != nil {
		if c.New, err = orderRow(ht.GetTypedNew(), ht.GetNew()); err != nil {
			return c, err
		}
	}
	if c.Op == orders.OpDelete && c.Old == nil {
		return c, orders.Invalidf("order delete event has no old row")
	}
	if c.Op != orders.OpDelete && c.New == nil {
		return c, orders.Invalidf("order event has no new row")
	}
	return c, nil
}

func decodeOrderRow(s *structpb.Struct) (*orders.OrderRow, error) {
	f := s.GetFields()
	r := &orders.OrderRow{}
	var err error
	if r.ID, err = idString(f["id"], "id"); err != nil {
		return nil, err
	}
	if r.CustomerID, err = optionalID(f["customer_id"], "customer_id"); err != nil {
		return nil, err
	}
	r.Status = f["status"].GetStringValue()
	r.CustomerEmail = f["customer_email"].GetStringValue()
	if r.CustomerEmail == "" {
		r.CustomerEmail = f["email"].GetStringValue()
	}
	if r.Items, err = decodeItems(f["items"]); err != nil {
		return nil, err
	}
	if tv := f["total"]; tv != nil && !isNull(tv) {
		if r.TotalCents, err = orders.ParseCents(tv.AsInterface()); err != nil {
			return nil, err
		}
	} else {
		for _, it := range r.Items {
			r.TotalCents += it.Quantity * it.PriceCents
		}
	}
	if cv := f["created_at"]; cv != nil && !isNull(cv) {
		if r.CreatedAt, err = parseTime(cv.GetStringValue()); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func isNull(v *structpb.Value) bool {
	_, ok := v.GetKind().(*structpb.Value_NullValue)
	return ok
}

// decodeItems reads the items jsonb column: a JSON array, or a string holding one
// (a json column, or a stringified payload).
func decodeItems(v *structpb.Value) ([]orders.Item, error) {
	if v == nil || isNull(v) {
		return nil, nil
	}
	var list []any
	switch k := v.GetKind().(type) {
	case *structpb.Value_ListValue:
		list = k.ListValue.AsSlice()
	case *structpb.Value_StringValue:
		if err := json.Unmarshal([]byte(k.StringValue), &list); err != nil {
			return nil, orders.Invalidf("items is not a JSON array")
		}
	default:
		return nil, orders.Invalidf("items is not a JSON array")
	}
	out := make([]orders.Item, 0, len(list))
	for i, raw := range list {
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, orders.Invalidf("item %d is not an object", i)
		}
		sku, _ := m["sku"].(string)
		qty, err := integer(m["quantity"])
		if err != nil {
			return nil, orders.Invalidf("item %d quantity: %v", i, err)
		}
		var price int64
		if p, ok := m["price"]; ok && p != nil {
			if price, err = orders.ParseCents(p); err != nil {
				return nil, orders.Invalidf("item %d price: %v", i, err)
			}
		}
		out = append(out, orders.Item{SKU: sku, Quantity: qty, PriceCents: price})
	}
	return out, nil
}

// integer reads a whole number sent as a JSON number or a string.
func integer(v any) (int64, error) {
	switch x := v.(type) {
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, orders.Invalidf("%v is not a whole number", x)
		}
		return int64(x), nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			return 0, orders.Invalidf("%q is not a whole number", x)
		}
		return n, nil
	case nil:
		return 0, orders.Invalidf("missing")
	default:
		return 0, orders.Invalidf("has type %T, want a number", v)
	}
}

// idString reads an id column: text or an integer (serial ids).
func idString(v *structpb.Value, name string) (string, error) {
	s, err := optionalID(v, name)
	if err == nil && s == "" {
		return "", orders.Invalidf("row has no %s", name)
	}
	return s, err
}

func optionalID(v *structpb.Value, name string) (string, error) {
	switch k := v.GetKind().(type) {
	case nil, *structpb.Value_NullValue:
		return "", nil
	case *structpb.Value_StringValue:
		return k.StringValue, nil
	case *structpb.Value_NumberValue:
		n, err := integer(k.NumberValue)
		if err != nil {
			return "", orders.Invalidf("%s: %v", name, err)
		}
		return strconv.FormatInt(n, 10), nil
	default:
		return "", orders.Invalidf("%s is neither text nor a number", name)
	}
}

// parseTime reads Hasura/PostgreSQL timestamps; one without a zone is UTC.
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{
		time.RFC3339Nano,
		"2006-01-02T15:04:05.999999999Z07",
		"2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999Z07",
		"2006-01-02T15:04:05.999999999",
		"2006-01-02 15:04:05.999999999",
	} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, orders.Invalidf("created_at %q is not a timestamp", s)
}

// decodeStockChange reads a hasura.public.inventory.* event.
func decodeStockChange(ht *eventv1.HasuraTableEvent) (orders.StockChange, error) {
	switch ht.GetOp() {
	case eventv1.HasuraOperation_HASURA_OPERATION_INSERT, eventv1.HasuraOperation_HASURA_OPERATION_MANUAL:
		sku, name, qty, err := inventoryRow(ht.GetTypedNew(), ht.GetNew())
		return orders.StockChange{Op: orders.StockSet, SKU: sku, Name: name, Quantity: qty}, err
	case eventv1.HasuraOperation_HASURA_OPERATION_UPDATE:
		sku, name, qty, err := inventoryRow(ht.GetTypedNew(), ht.GetNew())
		if err != nil {
			return orders.StockChange{}, err
		}
		oldSKU, _, oldQty, err := inventoryRow(ht.GetTypedOld(), ht.GetOld())
		if err != nil {
			return orders.StockChange{}, err
		}
		if oldSKU != sku {
			return orders.StockChange{}, orders.Invalidf("inventory update renames sku %s to %s", oldSKU, sku)
		}
		return orders.StockChange{Op: orders.StockRestock, SKU: sku, Name: name, Quantity: qty, Delta: qty - oldQty}, nil
	case eventv1.HasuraOperation_HASURA_OPERATION_DELETE:
		if ht.GetOld() == nil {
			return orders.StockChange{}, orders.Invalidf("inventory delete event has no old row")
		}
		sku, err := idString(ht.GetOld().GetFields()["sku"], "sku")
		return orders.StockChange{Op: orders.StockRemove, SKU: sku}, err
	}
	return orders.StockChange{}, orders.Invalidf("hasura event has no operation")
}

// structInventoryRow reads an inventory row from the Struct.
func structInventoryRow(s *structpb.Struct) (sku, name string, qty int64, err error) {
	if s == nil {
		return "", "", 0, orders.Invalidf("inventory event has no row")
	}
	f := s.GetFields()
	if sku, err = idString(f["sku"], "sku"); err != nil {
		return "", "", 0, err
	}
	name = f["name"].GetStringValue()
	if qty, err = integer(f["quantity"].AsInterface()); err != nil {
		return "", "", 0, orders.Invalidf("inventory %s quantity: %v", sku, err)
	}
	return sku, name, qty, nil
}
