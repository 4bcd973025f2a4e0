package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookmesh/hookmesh/platform/envconfig"
)

// Issue 17: an empty SMTP_URL_FILE silently sent mail to the outbox; an empty
// or unreadable one is now an error at start.
func TestEmptySMTPURLFileRefused(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "smtp-url")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, file := range map[string]string{"empty": empty, "unreadable": filepath.Join(dir, "missing")} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("SMTP_URL", "")
			t.Setenv("SMTP_URL_FILE", file)
			var cfg Config
			err := envconfig.Load(&cfg)
			if err == nil || !strings.Contains(err.Error(), "SMTP_URL_FILE") {
				t.Fatalf("Load = %v, want an error naming SMTP_URL_FILE", err)
			}
		})
	}
}
