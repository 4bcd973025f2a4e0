package email

import (
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	demov1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/demo/v1"
)

// userRow is what the mails and the directory read of a users row.
type userRow struct{ ID, Email, Name string }

// readUser reads a users row from its typed form (hookmesh.demo.v1.User, when the
// gateway maps public.users to it, as the demo config does), else from the Struct;
// a typed row that does not unpack falls back to the Struct the gateway sent beside it.
func readUser(typed *anypb.Any, s *structpb.Struct) userRow {
	var u demov1.User
	if typed.MessageIs(&u) && typed.UnmarshalTo(&u) == nil {
		r := userRow{Email: strings.TrimSpace(u.GetEmail()), Name: strings.TrimSpace(u.GetName())}
		if u.GetId() != 0 {
			r.ID = strconv.FormatInt(u.GetId(), 10)
		}
		return r
	}
	return userRow{ID: text(field(s, "id")), Email: text(field(s, "email")), Name: text(field(s, "name"))}
}
