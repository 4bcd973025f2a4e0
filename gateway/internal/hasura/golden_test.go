package hasura

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/hookmesh/hookmesh/gateway/internal/webhook"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// render is the golden form: the event as protojson without original_body (checked
// separately), or the error as the HTTP body would carry it. protojson adds random
// whitespace on purpose, so the output is compacted and re-indented.
func render(t *testing.T, ev *eventv1.Event, err error) []byte {
	t.Helper()
	var out []byte
	if err != nil {
		var we *webhook.Error
		if !errors.As(err, &we) {
			t.Fatalf("error is not a *webhook.Error: %v", err)
		}
		b, mErr := json.Marshal(map[string]any{"status": we.Status, "error": map[string]string{"code": we.Code, "message": we.Message}})
		if mErr != nil {
			t.Fatal(mErr)
		}
		out = b
	} else {
		c := proto.Clone(ev).(*eventv1.Event)
		c.OriginalBody = nil
		b, mErr := protojson.Marshal(c)
		if mErr != nil {
			t.Fatal(mErr)
		}
		out = b
	}
	var compact, indented bytes.Buffer
	if err := json.Compact(&compact, out); err != nil {
		t.Fatal(err)
	}
	if err := json.Indent(&indented, compact.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	indented.WriteByte('\n')
	return indented.Bytes()
}

func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, in := range inputs {
		if strings.HasSuffix(in, ".golden.json") {
			continue
		}
		n++
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			ev, decErr := Decode("hasura", body)
			if decErr == nil && !bytes.Equal(ev.GetOriginalBody(), body) {
				t.Errorf("original_body differs from the body received")
			}
			if decErr == nil {
				// The stored form must survive the log's encoding.
				if _, err := proto.Marshal(ev); err != nil {
					t.Fatalf("proto.Marshal: %v", err)
				}
			}
			got := render(t, ev, decErr)
			goldenPath := strings.TrimSuffix(in, ".json") + ".golden.json"
			if os.Getenv("UPDATE_GOLDEN") != "" {
				if err := os.WriteFile(goldenPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(goldenPath)
			if err != nil {
				t.Fatalf("read golden (refresh with UPDATE_GOLDEN=1): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("normalised event differs from %s (refresh with UPDATE_GOLDEN=1 if intended)\n--- got\n%s\n--- want\n%s", goldenPath, got, want)
			}
		})
	}
	if n < 7 {
		t.Fatalf("found %d fixtures, want at least the 7 shared ones", n)
	}
}
