package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/hookmesh/hookmesh/internal/mesh"
)

// runServe runs the whole mesh on the embedded default. Its flags are local
// overrides of the environment (DESIGN.md: env names are the interface).
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("serve", "serve [--config FILE] [--data-dir DIR] [--http-addr ADDR] [--admin-addr ADDR] [--grpc-addr ADDR]", stdout, stderr)
	overrides := []struct {
		flag, env, help string
		value           *string
	}{
		{"config", "HOOKMESH_CONFIG", "YAML file with sources, subscriptions and schedules (default: the built-in demo config)", new(string)},
		{"data-dir", "HOOKMESH_DATA_DIR", "all embedded state (default " + DefaultDataDir + ")", new(string)},
		{"http-addr", "HOOKMESH_HTTP_ADDR", "webhooks, health, and the REST API and console unless --admin-addr (default 127.0.0.1:8090)", new(string)},
		{"admin-addr", "HOOKMESH_ADMIN_ADDR", "separate listener for the REST API, console and /metrics", new(string)},
		{"grpc-addr", "HOOKMESH_GRPC_ADDR", "the gateway's gRPC API: admin, publisher, reflection (default 127.0.0.1:8091)", new(string)},
	}
	for _, o := range overrides {
		c.fs.StringVar(o.value, o.flag, "", o.help+" (env "+o.env+")")
	}
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.fail(usagef("unexpected argument %q", pos[0]))
	}
	for _, o := range overrides {
		if *o.value != "" {
			if err := os.Setenv(o.env, *o.value); err != nil {
				return c.fail(fmt.Errorf("set %s: %w", o.env, err))
			}
		}
	}
	cfg, err := mesh.LoadConfig()
	if err != nil {
		return c.fail(err)
	}
	if err := mesh.Run(ctx, cfg, stdout); err != nil {
		return c.fail(err)
	}
	return ExitOK
}
