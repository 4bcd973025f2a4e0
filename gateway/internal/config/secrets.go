package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hookmesh/hookmesh/platform/envconfig"
)

// SecretLookup returns the value of one secret variable and whether it is set.
type SecretLookup func(name string) (value string, ok bool, err error)

// EnvSecret reads NAME, or the file named by NAME_FILE (envconfig.Secret: both
// set, an unreadable or an empty file are errors).
func EnvSecret(name string) (string, bool, error) { return envconfig.Secret(name) }

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
