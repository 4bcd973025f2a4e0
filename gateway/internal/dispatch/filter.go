package dispatch

import (
	"encoding/json"
	"fmt"
	"sync"

	"cel.dev/cel-go/cel"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// filter is a compiled CEL expression over `event`, a map shaped like the event's
// protojson form with proto field names (event.type, event.hasura_table.new.status).
// original_body is left out: the typed payload already holds it.
type filter struct {
	src string
	prg cel.Program
}

var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)))
})

// costLimit stops runaway expressions (comprehensions over large payloads).
const costLimit = 1_000_000

func compileFilter(src string) (*filter, error) {
	if src == "" {
		return nil, nil
	}
	env, err := celEnv()
	if err != nil {
		return nil, fmt.Errorf("filter environment: %w", err)
	}
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		return nil, fmt.Errorf("filter: %w", iss.Err())
	}
	if t := ast.OutputType(); t != cel.BoolType && t != cel.DynType {
		return nil, fmt.Errorf("filter: evaluates to %s, want bool", t)
	}
	prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.CostLimit(costLimit))
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	return &filter{src: src, prg: prg}, nil
}

// eventMap is the `event` variable of a filter.
func eventMap(ev *eventv1.Event) (map[string]any, error) {
	if len(ev.GetOriginalBody()) > 0 {
		ev = proto.CloneOf(ev)
		ev.OriginalBody = nil
	}
	data, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("event to json: %w", err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("event from json: %w", err)
	}
	return m, nil
}

// match evaluates the filter. An evaluation error (e.g. a missing key) is returned
// so the caller can record it; the event is then treated as not selected.
func (f *filter) match(ev map[string]any) (bool, error) {
	out, _, err := f.prg.Eval(map[string]any{"event": ev})
	if err != nil {
		return false, fmt.Errorf("evaluate filter: %w", err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("filter result is %T, want bool", out.Value())
	}
	return b, nil
}
