package typeglob_test

import (
	"testing"

	"github.com/hookmesh/hookmesh/gateway/internal/typeglob"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, typ string
		want         bool
	}{
		{"orders.*", "orders.shipment.created", true},
		{"orders.*", "orders.", true},
		{"orders.*", "orders", false},
		{"orders.*", "ordersx.a", false},
		{"orders.*", "hasura.public.orders.insert", false},
		{"*.created", "orders.shipment.created", true},
		{"a*b*c", "abc", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "acb", false},
		{"ab*ba", "aba", false}, // the prefix and suffix may not overlap
		{"*", "anything.at.all", true},
		{"exact.type", "exact.type", true},
		{"exact.type", "exact.types", false},
	} {
		if got := typeglob.Compile(tc.pattern).Match(tc.typ); got != tc.want {
			t.Errorf("%q matches %q = %v, want %v", tc.pattern, tc.typ, got, tc.want)
		}
	}
	set := typeglob.CompileAll([]string{"orders.*", "stock.low"})
	if !set.Match("stock.low") || !set.Match("orders.x") || set.Match("email.sent") {
		t.Error("Set.Match")
	}
	if typeglob.CompileAll(nil).Match("x") {
		t.Error("an empty set matched")
	}
}
