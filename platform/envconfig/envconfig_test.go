package envconfig_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/platform/envconfig"
)

type dbConfig struct {
	URL string `env:"T_DATABASE_URL" secret:"true"`
}

type config struct {
	Addr     string        `env:"T_ADDR" default:"127.0.0.1:8090"`
	Timeout  time.Duration `env:"T_TIMEOUT" default:"30s"`
	Debug    bool          `env:"T_DEBUG"`
	Workers  int           `env:"T_WORKERS" default:"4"`
	Limit    int64         `env:"T_LIMIT"`
	Ratio    float64       `env:"T_RATIO"`
	Retries  uint          `env:"T_RETRIES"`
	Peers    []string      `env:"T_PEERS"`
	Token    string        `env:"T_TOKEN" secret:"true"`
	Required string        `env:"T_REQUIRED" required:"true" default:"set"`
	DB       dbConfig
	Ignored  string
}

var allVars = []string{"T_ADDR", "T_TIMEOUT", "T_DEBUG", "T_WORKERS", "T_LIMIT", "T_RATIO", "T_RETRIES", "T_PEERS",
	"T_TOKEN", "T_TOKEN_FILE", "T_REQUIRED", "T_DATABASE_URL", "T_DATABASE_URL_FILE", "T_MUST"}

func clearEnv(t *testing.T) {
	for _, k := range allVars {
		t.Setenv(k, "")
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	tokenFile := "" // set per case
	tests := []struct {
		name string
		env  map[string]string
		want config
	}{
		{
			name: "defaults",
			want: config{Addr: "127.0.0.1:8090", Timeout: 30 * time.Second, Workers: 4, Required: "set"},
		},
		{
			name: "all set",
			env: map[string]string{"T_ADDR": ":9000", "T_TIMEOUT": "250ms", "T_DEBUG": "true", "T_WORKERS": "8",
				"T_LIMIT": "9000000000", "T_RATIO": "0.5", "T_RETRIES": "3", "T_PEERS": " a, b ,,c ", "T_TOKEN": "tok",
				"T_REQUIRED": "x", "T_DATABASE_URL": "postgres://db"},
			want: config{Addr: ":9000", Timeout: 250 * time.Millisecond, Debug: true, Workers: 8, Limit: 9000000000, Ratio: 0.5,
				Retries: 3, Peers: []string{"a", "b", "c"}, Token: "tok", Required: "x", DB: dbConfig{URL: "postgres://db"}},
		},
		{
			name: "secret from file",
			env:  map[string]string{"T_TOKEN_FILE": "FILE"},
			want: config{Addr: "127.0.0.1:8090", Timeout: 30 * time.Second, Workers: 4, Required: "set", Token: "from-file"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			tokenFile = writeFile(t, "from-file\n")
			for k, v := range tc.env {
				if v == "FILE" {
					v = tokenFile
				}
				t.Setenv(k, v)
			}
			var got config
			if err := envconfig.Load(&got); err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Load =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	type requiredCfg struct {
		Must string `env:"T_MUST" required:"true"`
	}
	type badDefault struct {
		Workers int `env:"T_WORKERS" default:"many"`
	}
	type unsupported struct {
		M map[string]string `env:"T_ADDR"`
	}
	type unexported struct {
		addr string `env:"T_ADDR"` //nolint:unused // the test is that Load rejects it
	}
	tests := []struct {
		name    string
		env     map[string]string
		cfg     any
		wantErr []string
	}{
		{"not a pointer", nil, config{}, []string{"non-nil pointer to a struct"}},
		{"bad values", map[string]string{"T_TIMEOUT": "soon", "T_DEBUG": "yes please", "T_WORKERS": "x", "T_RETRIES": "-1", "T_RATIO": "half"},
			&config{}, []string{"env T_TIMEOUT: not a duration", "env T_DEBUG: not a boolean", "env T_WORKERS: not an integer",
				"env T_RETRIES: not a non-negative integer", "env T_RATIO: not a number"}},
		{"both secret forms", map[string]string{"T_TOKEN": "a", "T_TOKEN_FILE": "/x"}, &config{}, []string{"T_TOKEN and T_TOKEN_FILE are both set"}},
		{"missing secret file", map[string]string{"T_TOKEN_FILE": "/nonexistent/secret"}, &config{}, []string{"env T_TOKEN_FILE: read secret file"}},
		// Issue 17: an empty file was a silent fallback (SMTP_URL_FILE to the outbox).
		{"empty secret file", map[string]string{"T_TOKEN_FILE": writeFile(t, "")}, &config{}, []string{"env T_TOKEN_FILE: secret file", "is empty"}},
		{"secret file of newlines", map[string]string{"T_TOKEN_FILE": writeFile(t, "\n\r\n")}, &config{}, []string{"is empty"}},
		{"unreadable secret file", map[string]string{"T_TOKEN_FILE": t.TempDir()}, &config{}, []string{"env T_TOKEN_FILE: read secret file"}},
		{"required", nil, &requiredCfg{}, []string{"env T_MUST is required"}},
		{"bad default", nil, &badDefault{}, []string{"default of T_WORKERS: not an integer"}},
		{"unsupported type", map[string]string{"T_ADDR": "x"}, &unsupported{}, []string{"unsupported field type"}},
		{"unexported", nil, &unexported{}, []string{"not exported"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			err := envconfig.Load(tc.cfg)
			if err == nil {
				t.Fatal("Load = nil, want an error")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Load error %q lacks %q", err, w)
				}
			}
			for _, v := range tc.env {
				if len(v) > 2 && !strings.HasPrefix(v, "/") && strings.Contains(err.Error(), v) {
					t.Errorf("error %q repeats the value %q", err, v)
				}
			}
		})
	}
}

func TestNames(t *testing.T) {
	want := []string{"T_ADDR", "T_TIMEOUT", "T_DEBUG", "T_WORKERS", "T_LIMIT", "T_RATIO", "T_RETRIES", "T_PEERS",
		"T_TOKEN", "T_TOKEN_FILE", "T_REQUIRED", "T_DATABASE_URL", "T_DATABASE_URL_FILE"}
	for _, cfg := range []any{config{}, &config{}, (*config)(nil)} {
		if got := envconfig.Names(cfg); !reflect.DeepEqual(got, want) {
			t.Errorf("Names(%T) = %v, want %v", cfg, got, want)
		}
	}
	if got := envconfig.Names(42); got != nil {
		t.Errorf("Names(42) = %v, want nil", got)
	}
}

func TestSecret(t *testing.T) {
	file := writeFile(t, "s3cret\r\n")
	tests := []struct {
		name      string
		env       map[string]string
		want      string
		wantFound bool
		wantErr   bool
	}{
		{"unset", nil, "", false, false},
		{"direct", map[string]string{"T_TOKEN": "abc"}, "abc", true, false},
		{"file", map[string]string{"T_TOKEN_FILE": file}, "s3cret", true, false},
		{"both", map[string]string{"T_TOKEN": "abc", "T_TOKEN_FILE": file}, "", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			got, found, err := envconfig.Secret("T_TOKEN")
			if got != tc.want || found != tc.wantFound || (err != nil) != tc.wantErr {
				t.Errorf("Secret = %q, %v, %v; want %q, %v, err=%v", got, found, err, tc.want, tc.wantFound, tc.wantErr)
			}
		})
	}
}
