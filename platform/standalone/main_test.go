package standalone_test

import (
	"context"
	"errors"
	"testing"

	"github.com/hookmesh/hookmesh/platform/standalone"
)

type mainConfig struct {
	Addr  string `env:"STANDALONE_TEST_ADDR" default:"127.0.0.1:1"`
	Count int    `env:"STANDALONE_TEST_COUNT"`
}

func TestMainExitCodes(t *testing.T) {
	failing := errors.New("failing")
	for _, tc := range []struct {
		name        string
		args        []string
		env         map[string]string
		runErr      error
		healthErr   error
		want        int
		wantCommand string // "run", "health" or "" for neither
	}{
		{"serve by default", nil, nil, nil, nil, 0, "run"},
		{"serve", []string{"serve"}, nil, nil, nil, 0, "run"},
		{"serve fails", nil, nil, failing, nil, 1, "run"},
		{"healthy", []string{"health"}, nil, nil, nil, 0, "health"},
		{"unhealthy", []string{"health"}, nil, nil, failing, 1, "health"},
		{"unknown command", []string{"bogus"}, nil, nil, nil, 2, ""},
		{"invalid environment", []string{"health"}, map[string]string{"STANDALONE_TEST_COUNT": "many"}, nil, nil, 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var called string
			var got mainConfig
			run := func(ctx context.Context, cfg mainConfig) error {
				called, got = "run", cfg
				return tc.runErr
			}
			health := func(ctx context.Context, cfg mainConfig) error {
				called, got = "health", cfg
				return tc.healthErr
			}
			if code := standalone.Main("test", tc.args, run, health); code != tc.want {
				t.Errorf("Main(%v) = %d, want %d", tc.args, code, tc.want)
			}
			if called != tc.wantCommand {
				t.Errorf("Main(%v) called %q, want %q", tc.args, called, tc.wantCommand)
			}
			if called != "" && got.Addr != "127.0.0.1:1" {
				t.Errorf("config not loaded from the environment: %+v", got)
			}
		})
	}
}
