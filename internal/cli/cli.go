// Package cli is the hookmesh command: `serve` (also a bare `hookmesh`) runs the
// whole mesh; the other subcommands talk to a running gateway through its REST API
// and its webhook endpoints. Exit codes: 0 ok, 1 failure, 2 usage.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/hookmesh/hookmesh/platform/envconfig"
	"io"
	"os"
	"strings"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Defaults of the connection flags.
const (
	DefaultAddr    = "http://127.0.0.1:8090"
	DefaultDataDir = envconfig.DefaultDataDir
)

const usage = `hookmesh — webhook gateway and gRPC service mesh

Usage:
  hookmesh [serve]                         run the whole mesh on the embedded default
  hookmesh send <source> [--fixture NAME | --file F] [--id ID]
                                           send a correctly signed sample webhook
  hookmesh send --list                     list the built-in fixtures
  hookmesh events ls [filters]             list stored events, newest first
  hookmesh events get <id> [--source S]    one event, its deliveries and attempts
  hookmesh deadletters ls [filters]        list open dead letters
  hookmesh replay <id> [--source S]        replay one event
  hookmesh replay --since T [filters] [--dry-run]
                                           bulk replay job, followed to the end
  hookmesh subscriptions ls|pause NAME|resume NAME
  hookmesh bench [--rate N | --concurrency N] [--duration D] [--source S]
                                           load generator with a latency summary
  hookmesh schema gen --database-url URL --table SCHEMA.TABLE ... [--out DIR]
                                           a .proto message per table from Postgres' catalog

Connection (every subcommand but serve):
  --addr URL     gateway address (env HOOKMESH_ADDR, default http://127.0.0.1:8090)
  --token T      admin token (env HOOKMESH_ADMIN_TOKEN or HOOKMESH_ADMIN_TOKEN_FILE)
  --json         machine-readable output

Run 'hookmesh <command> --help' for a command's flags.
Exit codes: 0 ok, 1 failure, 2 usage.
`

// Main runs the command line args (without the program name) and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return runServe(ctx, nil, stdout, stderr)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, stdout, stderr)
	case "send":
		return runSend(ctx, rest, stdout, stderr)
	case "events":
		return runEvents(ctx, rest, stdout, stderr)
	case "deadletters", "dead-letters":
		return runDeadLetters(ctx, rest, stdout, stderr)
	case "replay":
		return runReplay(ctx, rest, stdout, stderr)
	case "subscriptions", "subs":
		return runSubscriptions(ctx, rest, stdout, stderr)
	case "bench":
		return runBench(ctx, rest, stdout, stderr)
	case "schema":
		return runSchema(ctx, rest, stdout, stderr)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return ExitOK
	}
	fmt.Fprintf(stderr, "hookmesh: unknown command %q\n\n%s", cmd, usage)
	return ExitUsage
}

// usageError is a command line the command cannot run.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{msg: fmt.Sprintf(format, a...)} }

// command is one subcommand's flags and how it reports.
type command struct {
	name     string // "events ls"
	synopsis string
	fs       *flag.FlagSet
	stdout   io.Writer
	stderr   io.Writer

	// Connection flags.
	addr, token string
	json        bool
}

func newCommand(name, synopsis string, stdout, stderr io.Writer) *command {
	c := &command{name: name, synopsis: synopsis, stdout: stdout, stderr: stderr}
	c.fs = flag.NewFlagSet("hookmesh "+name, flag.ContinueOnError)
	c.fs.SetOutput(io.Discard)
	return c
}

// connFlags adds --addr, --token and --json.
func (c *command) connFlags() {
	c.fs.StringVar(&c.addr, "addr", "", "gateway address (env HOOKMESH_ADDR, default "+DefaultAddr+")")
	c.fs.StringVar(&c.token, "token", "", "admin token (env HOOKMESH_ADMIN_TOKEN or HOOKMESH_ADMIN_TOKEN_FILE)")
	c.fs.BoolVar(&c.json, "json", false, "machine-readable JSON output")
}

// parse parses flags anywhere among the positional arguments and returns those.
// A nil slice with ok=false means the caller returns code.
func (c *command) parse(args []string) (pos []string, code int, ok bool) {
	for {
		err := c.fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			c.printUsage(c.stdout)
			return nil, ExitOK, false
		}
		if err != nil {
			fmt.Fprintf(c.stderr, "hookmesh %s: %v\n", c.name, err)
			fmt.Fprintf(c.stderr, "Run 'hookmesh %s --help' for usage.\n", c.name)
			return nil, ExitUsage, false
		}
		args = c.fs.Args()
		if len(args) == 0 {
			return pos, 0, true
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func (c *command) printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: hookmesh %s\n\nFlags:\n", c.synopsis)
	c.fs.SetOutput(w)
	c.fs.PrintDefaults()
	c.fs.SetOutput(io.Discard)
}

// fail reports err and returns its exit code: usage errors 2, the rest 1.
func (c *command) fail(err error) int {
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(c.stderr, "hookmesh %s: %s\nRun 'hookmesh %s --help' for usage.\n", c.name, ue.msg, c.name)
		return ExitUsage
	}
	fmt.Fprintf(c.stderr, "hookmesh %s: %v\n", c.name, err)
	return ExitFailure
}

// client builds the REST client from the flags and environment.
func (c *command) client() (*client, error) {
	addr := firstNonEmpty(c.addr, os.Getenv("HOOKMESH_ADDR"), DefaultAddr)
	token := c.token
	if token == "" {
		var err error
		if token, err = envSecret("HOOKMESH_ADMIN_TOKEN"); err != nil {
			return nil, err
		}
	}
	return newClient(addr, token)
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// isTerminal reports whether w is a character device (progress bars only there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
