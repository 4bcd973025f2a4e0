package analytics

import (
	"fmt"
	"strconv"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	demov1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/demo/v1"
)

// Typed rows: when the gateway maps public.users / public.orders to hookmesh.demo.v1
// (the demo config does), the row is read from typed_new / typed_old; otherwise
// (another message, an unmapped table) from the Struct. User updates stay on the
// Struct: they compare only the columns a trigger sent, and a typed row cannot say
// which columns were absent.

// unpacked reports whether a holds m's type, and fills m.
func unpacked(a *anypb.Any, m proto.Message) (bool, error) {
	if !a.MessageIs(m) {
		return false, nil
	}
	if err := a.UnmarshalTo(m); err != nil {
		return false, fmt.Errorf("typed row %s: %w", a.GetTypeUrl(), err)
	}
	return true, nil
}

// userRow is what user_registered records of a users row.
type userRow struct{ ID, Email, Name, Method string }

func readUser(typed *anypb.Any, s *structpb.Struct) (userRow, error) {
	var u demov1.User
	if ok, err := unpacked(typed, &u); ok || err != nil {
		return userRow{ID: intID(u.GetId()), Email: u.GetEmail(), Name: u.GetName(), Method: u.GetRegistrationMethod()}, err
	}
	return userRow{ID: idString(field(s, "id")), Email: stringField(s, "email"), Name: stringField(s, "name"),
		Method: stringField(s, "registration_method")}, nil
}

// orderRow is what order_completed records of an orders row; amount and items are
// read only on the transition, as their errors matter only there.
type orderRow struct {
	ID, CustomerID, Status string
	amount, items          func() (int64, error)
}

func readOrder(typed *anypb.Any, s *structpb.Struct) (orderRow, error) {
	var o demov1.Order
	ok, err := unpacked(typed, &o)
	switch {
	case err != nil:
		return orderRow{}, err
	case !ok:
		return orderRow{
			ID: idString(field(s, "id")), CustomerID: idString(field(s, "customer_id")), Status: stringField(s, "status"),
			amount: func() (int64, error) { return cents(field(s, "total")) },
			items:  func() (int64, error) { return itemCount(field(s, "items")) },
		}, nil
	}
	return orderRow{
		ID: intID(o.GetId()), CustomerID: intID(o.GetCustomerId()), Status: o.GetStatus(),
		amount: func() (int64, error) {
			if o.GetTotal() == "" {
				return 0, nil
			}
			return parseDecimalCents(o.GetTotal())
		},
		items: func() (int64, error) {
			var n int64
			for i, it := range o.GetItems() {
				if it.GetQuantity() < 0 || it.GetQuantity() > 1e9 {
					return 0, fmt.Errorf("line %d quantity is not a non-negative integer", i)
				}
				n += it.GetQuantity()
			}
			return n, nil
		},
	}, nil
}

// intID renders a bigint key; 0 is no key.
func intID(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}
