package logging

import (
	"bytes"
	"encoding/json"
	"sync"
)

// Capture is an io.Writer for New that keeps JSON log lines for a test to read,
// safe to write from many goroutines.
type Capture struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (c *Capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.Write(p)
}

// Lines decodes the JSON lines written so far (anything else is skipped).
func (c *Capture) Lines() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []map[string]any
	for _, l := range bytes.Split(c.b.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(l, &m) == nil {
			out = append(out, m)
		}
	}
	return out
}
