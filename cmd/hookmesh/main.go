// Command hookmesh runs the whole mesh on its embedded default (`hookmesh serve`,
// also a bare `hookmesh`) and talks to a running gateway (send, events, replay, …).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/hookmesh/hookmesh/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
