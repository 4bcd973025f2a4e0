package email

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	demov1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/demo/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

func TestTypedUsersFirst(t *testing.T) {
	typed, err := anypb.New(&demov1.User{Id: 9007199254740993, Email: " ada@example.com ", Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	stale, _ := structpb.NewStruct(map[string]any{"id": 1, "email": "old@example.com", "name": "Old"})
	ev := &eventv1.Event{Type: "hasura.public.users.insert", Payload: &eventv1.Event_HasuraTable{HasuraTable: &eventv1.HasuraTableEvent{
		Op: eventv1.HasuraOperation_HASURA_OPERATION_INSERT, New: stale, TypedNew: typed}}}
	c := customerChange(ev, time.Now())
	if c == nil || c.ID != "9007199254740993" || c.Email != "ada@example.com" || c.Name != "Ada" {
		t.Fatalf("change %+v", c)
	}
	other, _ := anypb.New(&demov1.Order{Id: 5})
	if u := readUser(other, stale); u.ID != "1" || u.Email != "old@example.com" {
		t.Fatalf("fallback to the Struct: %+v", u)
	}
}
