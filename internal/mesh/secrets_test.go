package mesh

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnsureDemoSecrets(t *testing.T) {
	for _, s := range DemoSecrets {
		t.Setenv(s.Env, "")
		_ = os.Unsetenv(s.Env)
	}
	t.Setenv("GITHUB_WEBHOOK_SECRET", "from-env")
	dir := t.TempDir()

	first, err := EnsureDemoSecrets(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != len(DemoSecrets)-1 {
		t.Fatalf("generated %d secrets, want %d (the env one is kept)", len(first), len(DemoSecrets)-1)
	}
	for _, g := range first {
		if !g.New || g.Value == "" || os.Getenv(g.Env) != g.Value {
			t.Errorf("%s: new=%v value set in env=%v", g.Env, g.New, os.Getenv(g.Env) == g.Value)
		}
		info, err := os.Stat(g.Path)
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s: file %v mode %v", g.Env, err, info.Mode())
		}
	}
	if os.Getenv("GITHUB_WEBHOOK_SECRET") != "from-env" {
		t.Error("a set variable was overwritten")
	}
	std := os.Getenv("STANDARD_WEBHOOK_SECRET")
	if _, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(std, "whsec_")); err != nil || !strings.HasPrefix(std, "whsec_") {
		t.Errorf("standard webhook secret %q is not whsec_<base64>", std)
	}

	// A restart on the same data dir keeps the same secrets.
	for _, g := range first {
		_ = os.Unsetenv(g.Env)
	}
	second, err := EnsureDemoSecrets(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range second {
		if g.New || g.Value != first[i].Value {
			t.Errorf("%s changed across restart", g.Env)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "secrets", "GITHUB_WEBHOOK_SECRET")); !os.IsNotExist(err) {
		t.Error("secret given by env was written to disk")
	}
}
