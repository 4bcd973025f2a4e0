package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// envSecret reads NAME, or the file NAME_FILE names (trailing newlines trimmed);
// "" when neither is set. Both set is an error, as in the gateway.
func envSecret(name string) (string, error) {
	v := os.Getenv(name)
	file := os.Getenv(name + "_FILE")
	switch {
	case v != "" && file != "":
		return "", fmt.Errorf("both %s and %s_FILE are set", name, name)
	case v != "":
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read %s_FILE: %w", name, err)
		}
		s := strings.TrimRight(string(b), "\r\n")
		if s == "" {
			return "", fmt.Errorf("%s_FILE %s is empty", name, file)
		}
		return s, nil
	}
	return "", nil
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
