package hasura

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/hookmesh/hookmesh/gateway/internal/webhook"
)

// FuzzHasuraDecode: any body either decodes into an event that survives proto
// encoding, or is a 400 with one of the two body codes; it never panics. The
// committed corpus is in testdata/fuzz/FuzzHasuraDecode; the fixtures seed it too.
func FuzzHasuraDecode(f *testing.F) {
	fixtures, _ := filepath.Glob("testdata/*.json")
	for _, p := range fixtures {
		if strings.HasSuffix(p, ".golden.json") {
			continue
		}
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := Decode("hasura", body)
		_ = BodyTraceparent(body)
		if err != nil {
			var we *webhook.Error
			if !errors.As(err, &we) || we.Status != 400 ||
				(we.Code != webhook.CodeMalformedJSON && we.Code != webhook.CodeInvalidPayload) {
				t.Fatalf("unexpected error %v", err)
			}
			// Our parser and encoding/json agree on what is JSON.
			if we.Code == webhook.CodeMalformedJSON && json.Valid(body) {
				t.Fatalf("valid JSON reported malformed: %v", err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("invalid JSON accepted")
		}
		if ev.GetId() == "" || ev.GetType() == "" {
			t.Fatalf("event without id or type: %v", ev)
		}
		if _, err := proto.Marshal(ev); err != nil {
			t.Fatalf("proto.Marshal: %v", err)
		}
	})
}
