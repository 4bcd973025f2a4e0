package email

import (
	"context"
	"time"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// The customer directory: orders facts name the customer by customer_id (the
// demo's orders table has no address), so the service keeps each users row's
// current address and name from the user events it receives anyway
// (hasura.public.users.insert / .update / .delete). A change is applied in the
// transaction that marks its event processed, so a redelivery applies nothing.
//
// What the directory sees is what the subscription delivers: the demo config's
// CEL filter passes a users update to email only when the address changed, so a
// name-only change never reaches it and the directory keeps the older name.
// That is harmless: the address is what a confirmation needs, and a fact's own
// customer_name still wins.
//
// Events carry no ordering guarantee, so changes are ordered by when the row
// changed (Hasura's created_at, else the event time), not by arrival: a late
// insert does not overwrite a newer update, nor revive a deleted row. Events of
// one transaction share created_at; among those the later operation wins
// (insert < update < delete), and two updates of one row in one transaction
// are applied in arrival order.

// Customer is the directory's entry for one users row.
type Customer struct {
	ID string
	// Email is the current usable address; empty when the row has none.
	Email string
	Name  string
	// Deleted is set once the row was deleted (a tombstone, so a late insert
	// does not bring it back).
	Deleted bool
}

// CustomerOp ranks the operations of one transaction: the later one wins a tie.
type CustomerOp int

// Directory operations, in the order they can happen to one row.
const (
	CustomerInserted CustomerOp = iota + 1
	CustomerUpdated
	CustomerDeleted
)

// CustomerChange is what one user event does to the directory.
type CustomerChange struct {
	Customer
	Op CustomerOp
	// At orders changes of one row: the later wins.
	At time.Time
}

// Customers reads the directory. Implemented by internal/store.
type Customers interface {
	// Customer returns the entry of users row id; ok is false when no event
	// about that row has been applied yet.
	Customer(ctx context.Context, id string) (c Customer, ok bool, err error)
}

// customerChange reads the directory change of a users event, or nil for any
// other event and for rows without an id. now stands in when the event carries
// no time at all.
func customerChange(ev *eventv1.Event, now time.Time) *CustomerChange {
	t := ev.GetHasuraTable()
	if t == nil {
		return nil
	}
	var (
		c          CustomerChange
		row, typed = t.GetNew(), t.GetTypedNew()
	)
	switch ev.GetType() {
	case "hasura.public.users.insert":
		c.Op = CustomerInserted
	case "hasura.public.users.update":
		c.Op = CustomerUpdated
	case "hasura.public.users.delete":
		c.Op, c.Deleted, row, typed = CustomerDeleted, true, t.GetOld(), t.GetTypedOld()
	default:
		return nil
	}
	u := readUser(typed, row)
	if c.ID = u.ID; c.ID == "" {
		return nil
	}
	if !c.Deleted {
		c.Email, _ = address(u.Email)
		c.Name = cleanName(u.Name)
	}
	switch {
	case t.GetCreatedAt() != nil:
		c.At = t.GetCreatedAt().AsTime()
	case ev.GetTime() != nil:
		c.At = ev.GetTime().AsTime()
	default:
		c.At = now
	}
	return &c
}
