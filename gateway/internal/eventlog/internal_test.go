package eventlog

import (
	"strings"
	"testing"
)

func TestIndexKey(t *testing.T) {
	tests := []struct {
		source, id, want string
	}{
		{"stripe", "evt_1NhTJK2eZvKYlo2C", "evt_1NhTJK2eZvKYlo2C.stripe"},
		{"hasura", "0bd4e2a1-6f2b-4bbd-b5e6-3a1e7c8f9d10", "0bd4e2a1-6f2b-4bbd-b5e6-3a1e7c8f9d10.hasura"},
		{"s", "a.b", "a=2Eb.s"},
		{"s", "a=2Eb", "a=3D2Eb.s"},
		{"s", "a/b c*>", "a=2Fb=20c=2A=3E.s"},
		{"s", "é", "=C3=A9.s"},
	}
	for _, tc := range tests {
		if got := indexKey(tc.source, tc.id); got != tc.want {
			t.Errorf("indexKey(%q, %q) = %q, want %q", tc.source, tc.id, got, tc.want)
		}
	}
	long := indexKey("s", strings.Repeat("é", 100))
	if !strings.HasPrefix(long, "==") || len(long) != 2+64+2 {
		t.Errorf("long id key = %q, want == and a SHA-256", long)
	}
	if indexKey("s", strings.Repeat("é", 100)) == indexKey("s", strings.Repeat("é", 101)) {
		t.Error("hashed keys collide")
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"github.*", "github.pull_request.opened", true},
		{"github.*", "github.", true},
		{"github.*", "github", false},
		{"*", "", true},
		{"*.insert", "hasura.public.users.insert", true},
		{"hasura.*.users.*", "hasura.public.users.update", true},
		{"hasura.*.users.*", "hasura.public.orders.update", false},
		{"stripe.payment_intent.succeeded", "stripe.payment_intent.succeeded", true},
		{"stripe.payment_intent.succeeded", "stripe.payment_intent.failed", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
	}
	for _, tc := range tests {
		if got := globMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestVersionAtLeast(t *testing.T) {
	tests := []struct {
		have string
		want bool
	}{
		{"2.15.3", true}, {"v2.11.0", true}, {"2.11.0-beta.1", true}, {"2.10.22", false},
		{"2.9.20", false}, {"3.0.0", true}, {"garbage", false}, {"", false},
	}
	for _, tc := range tests {
		if got := versionAtLeast(tc.have, MinServerVersion); got != tc.want {
			t.Errorf("versionAtLeast(%q) = %v, want %v", tc.have, got, tc.want)
		}
	}
}

func TestCursor(t *testing.T) {
	for _, seq := range []uint64{1, 42, 1 << 40} {
		got, err := decodeCursor(encodeCursor(seq))
		if err != nil || got != seq {
			t.Errorf("cursor round trip of %d = %d, %v", seq, got, err)
		}
	}
	for _, bad := range []string{"", "!!", encodeCursor(0), "djE6eA"} {
		if _, err := decodeCursor(bad); err == nil {
			t.Errorf("decodeCursor(%q) accepted", bad)
		}
	}
}
