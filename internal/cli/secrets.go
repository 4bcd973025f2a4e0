package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hookmesh/hookmesh/platform/envconfig"
)

// envSecret reads NAME, or the file NAME_FILE names (envconfig.Secret, as in
// the gateway); "" when neither is set.
func envSecret(name string) (string, error) {
	v, _, err := envconfig.Secret(name)
	return v, err
}

// sourceSecret finds a source's secret: the variable (or its _FILE), else the demo
// secret that `hookmesh serve` generated into <dataDir>/secrets/<NAME>.
func sourceSecret(name, dataDir string) (string, error) {
	v, err := envSecret(name)
	if err != nil || v != "" {
		return v, err
	}
	path := filepath.Join(dataDir, "secrets", name)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no secret: set %s (or %s_FILE), or start `hookmesh serve` once so it generates %s", name, name, path)
	}
	if err != nil {
		return "", fmt.Errorf("read demo secret: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("demo secret file %s is empty", path)
	}
	return s, nil
}
