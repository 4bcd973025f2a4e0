package mesh

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DemoSecret is one source secret of the built-in demo config.
type DemoSecret struct {
	Env      string
	Generate func() (string, error)
}

// DemoSecrets are the demo config's source secrets, in the order they are printed.
var DemoSecrets = []DemoSecret{
	{Env: "HASURA_WEBHOOK_SECRET", Generate: hexSecret(24)},
	{Env: "STRIPE_WEBHOOK_SECRET", Generate: prefixed("whsec_", hexSecret(24))},
	{Env: "GITHUB_WEBHOOK_SECRET", Generate: hexSecret(20)},
	{Env: "SHOPIFY_WEBHOOK_SECRET", Generate: hexSecret(24)},
	{Env: "SLACK_SIGNING_SECRET", Generate: hexSecret(16)},
	// Standard Webhooks keys are base64 with a whsec_ prefix.
	{Env: "STANDARD_WEBHOOK_SECRET", Generate: prefixed("whsec_", base64Secret(24))},
}

// GeneratedSecret reports a secret that came from the data dir rather than the environment.
type GeneratedSecret struct {
	Env   string
	Value string
	Path  string
	New   bool // generated on this start
}

// EnsureDemoSecrets makes every demo secret available in the environment: a set
// variable (or its _FILE) wins; otherwise the value kept in dataDir/secrets/<ENV> is
// used, generated there (0600) on first start.
func EnsureDemoSecrets(dataDir string) ([]GeneratedSecret, error) {
	dir := filepath.Join(dataDir, "secrets")
	var out []GeneratedSecret
	for _, s := range DemoSecrets {
		if os.Getenv(s.Env) != "" || os.Getenv(s.Env+"_FILE") != "" {
			continue
		}
		path := filepath.Join(dir, s.Env)
		value, isNew, err := loadOrCreate(path, s.Generate)
		if err != nil {
			return nil, fmt.Errorf("demo secret %s: %w", s.Env, err)
		}
		if err := os.Setenv(s.Env, value); err != nil {
			return nil, fmt.Errorf("set %s: %w", s.Env, err)
		}
		out = append(out, GeneratedSecret{Env: s.Env, Value: value, Path: path, New: isNew})
	}
	return out, nil
}

func loadOrCreate(path string, generate func() (string, error)) (string, bool, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if v := strings.TrimSpace(string(b)); v != "" {
			return v, false, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("read: %w", err)
	}
	v, err := generate()
	if err != nil {
		return "", false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, fmt.Errorf("create dir: %w", err)
	}
	if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("write: %w", err)
	}
	return v, true, nil
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("random: %w", err)
	}
	return b, nil
}

func hexSecret(n int) func() (string, error) {
	return func() (string, error) {
		b, err := randomBytes(n)
		return hex.EncodeToString(b), err
	}
}

func base64Secret(n int) func() (string, error) {
	return func() (string, error) {
		b, err := randomBytes(n)
		return base64.StdEncoding.EncodeToString(b), err
	}
}

func prefixed(prefix string, gen func() (string, error)) func() (string, error) {
	return func() (string, error) {
		v, err := gen()
		return prefix + v, err
	}
}
