package eventlog

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestEventKey(t *testing.T) {
	tests := []struct {
		id, want string
	}{
		{"evt_1NhTJK2eZvKYlo2C", "evt_1NhTJK2eZvKYlo2C"},
		{"0bd4e2a1-6f2b-4bbd-b5e6-3a1e7c8f9d10", "0bd4e2a1-6f2b-4bbd-b5e6-3a1e7c8f9d10"},
		{"a.b", "a=2Eb"},
		{"a=2Eb", "a=3D2Eb"},
		{"a/b c*>", "a=2Fb=20c=2A=3E"},
		{"é", "=C3=A9"},
	}
	for _, tc := range tests {
		if got := eventKey(tc.id); got != tc.want {
			t.Errorf("eventKey(%q) = %q, want %q", tc.id, got, tc.want)
		}
	}
	long := eventKey(strings.Repeat("é", 100))
	if !strings.HasPrefix(long, "==") || len(long) != 2+64 {
		t.Errorf("long id key = %q, want == and a SHA-256", long)
	}
	if eventKey(strings.Repeat("é", 100)) == eventKey(strings.Repeat("é", 101)) {
		t.Error("hashed keys collide")
	}
}

func TestStoredEarlier(t *testing.T) {
	apiErr := func(code jetstream.ErrorCode, desc string) error {
		return fmt.Errorf("nats: %w", &jetstream.APIError{Code: 400, ErrorCode: code, Description: desc})
	}
	tests := []struct {
		name    string
		err     error
		wantSeq uint64
		wantDup bool
	}{
		{"stored at 42", apiErr(jetstream.JSErrCodeStreamWrongLastSequence, "wrong last sequence: 42"), 42, true},
		{"sequence 0 is no event", apiErr(jetstream.JSErrCodeStreamWrongLastSequence, "wrong last sequence: 0"), 0, false},
		{"in flight on a cluster", apiErr(jetstream.JSErrCodeStreamWrongLastSequenceConstant, "wrong last sequence"), 0, false},
		{"unparsable", apiErr(jetstream.JSErrCodeStreamWrongLastSequence, "wrong last sequence"), 0, false},
		{"other API error", apiErr(jetstream.JSErrCodeStreamNotFound, "stream not found"), 0, false},
		{"not an API error", errors.New("wrong last sequence: 42"), 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seq, dup := storedEarlier(tc.err)
			if seq != tc.wantSeq || dup != tc.wantDup {
				t.Fatalf("storedEarlier = %d, %v; want %d, %v", seq, dup, tc.wantSeq, tc.wantDup)
			}
		})
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

var errAPI = errors.New("an API error")

func TestParsePubAck(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    pubAck
		wantErr error
	}{
		{"stored", `{"stream":"HOOKMESH_EVENTS","seq":42}`, pubAck{Stream: "HOOKMESH_EVENTS", Sequence: 42}, nil},
		{"duplicate", `{"stream":"S","seq":7,"duplicate":true}`, pubAck{Stream: "S", Sequence: 7, Duplicate: true}, nil},
		{"with a domain", `{"stream":"S","domain":"hub","seq":9}`, pubAck{Stream: "S", Sequence: 9}, nil},
		{"fields reordered", `{"seq":3,"stream":"S"}`, pubAck{Stream: "S", Sequence: 3}, nil},
		{"API error", `{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 5"},"stream":"S","seq":0}`, pubAck{}, errAPI},
		{"no stream", `{"seq":3}`, pubAck{}, jetstream.ErrInvalidJSAck},
		{"not JSON", `nope`, pubAck{}, jetstream.ErrInvalidJSAck},
		{"truncated", `{"stream":"S","seq":`, pubAck{}, jetstream.ErrInvalidJSAck},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePubAck([]byte(tc.in))
			if errors.Is(tc.wantErr, errAPI) {
				var apiErr *jetstream.APIError
				if !errors.As(err, &apiErr) || apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence {
					t.Fatalf("parsePubAck error = %v, want the API error", err)
				}
				return
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("parsePubAck error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parsePubAck = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	if seq, dup := storedEarlier(func() error { _, err := parsePubAck([]byte(tests[4].in)); return err }()); !dup || seq != 5 {
		t.Fatalf("storedEarlier on a parsed wrong-last-sequence answer = %d, %v", seq, dup)
	}
}

func TestRetryable(t *testing.T) {
	apiErr := func(code, errCode int, desc string) error {
		return fmt.Errorf("nats: %w", &jetstream.APIError{Code: code, ErrorCode: jetstream.ErrorCode(errCode), Description: desc})
	}
	tests := []struct {
		name       string
		err        error
		retry      bool
		mayHaveRun bool
	}{
		{"no answer in time", nats.ErrTimeout, true, true},
		{"no leader to answer", nats.ErrNoResponders, true, false},
		{"not connected", errNotConnected, true, false},
		{"connection lost", nats.ErrConnectionReconnecting, true, true},
		{"same subject in flight", apiErr(400, int(jetstream.JSErrCodeStreamWrongLastSequenceConstant), "wrong last sequence"), true, false},
		{"leader stepped down", apiErr(500, 10009, "JetStream not leader"), true, false},
		{"cluster unavailable", apiErr(503, 10008, "JetStream system temporarily unavailable"), true, false},
		{"stream full (a 503 too)", apiErr(503, 10077, "maximum bytes exceeded"), false, false},
		{"message too large", apiErr(400, int(jetstream.JSErrCodeStreamMessageExceedsMaximum), "message size exceeds maximum allowed"), false, false},
		{"stream not found", apiErr(404, int(jetstream.JSErrCodeStreamNotFound), "stream not found"), false, false},
		{"payload over max_payload", nats.ErrMaxPayload, false, true},
		{"log closed", nats.ErrConnectionClosed, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := retryable(tc.err); got != tc.retry {
				t.Errorf("retryable = %v, want %v", got, tc.retry)
			}
			if tc.retry {
				if got := mayHaveLanded(tc.err); got != tc.mayHaveRun {
					t.Errorf("mayHaveLanded = %v, want %v", got, tc.mayHaveRun)
				}
			}
		})
	}
}
