package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// SecretLookup returns the value of one secret variable and whether it is set.
type SecretLookup func(name string) (value string, ok bool, err error)

// EnvSecret reads NAME, or the file named by NAME_FILE (trailing newlines trimmed).
// Setting both is an error: one of them would silently win.
func EnvSecret(name string) (string, bool, error) {
	v, ok := os.LookupEnv(name)
	file, fileOK := os.LookupEnv(name + "_FILE")
	switch {
	case ok && v != "" && fileOK && file != "":
		return "", false, fmt.Errorf("both %s and %s_FILE are set", name, name)
	case ok && v != "":
		return v, true, nil
	case fileOK && file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			// The path is config, not a secret; the content never appears in errors.
			return "", false, fmt.Errorf("read %s_FILE: %w", name, err)
		}
		s := strings.TrimRight(string(b), "\r\n")
		if s == "" {
			return "", false, fmt.Errorf("%s_FILE %s is empty", name, file)
		}
		return s, true, nil
	}
	return "", false, nil
}

// ErrNoSecret is returned when none of a source's variables is set.
var ErrNoSecret = errors.New("no secret set")

// Secrets resolves the source's secrets_from_env, in order, skipping unset variables
// (a rotation's _PREVIOUS is usually unset). At least one must be set.
func (s *Source) Secrets(lookup SecretLookup) ([]string, error) {
	if lookup == nil {
		lookup = EnvSecret
	}
	var out []string
	for _, name := range s.SecretsFromEnv {
		v, ok, err := lookup(name)
		if err != nil {
			return nil, fmt.Errorf("source %q: %w", s.Name, err)
		}
		if ok {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("source %q: %w: set %s (or %s_FILE)", s.Name, ErrNoSecret,
			strings.Join(s.SecretsFromEnv, " or "), s.SecretsFromEnv[0])
	}
	return out, nil
}
