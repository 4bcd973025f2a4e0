// Command orders runs the orders service on its own (the all-in-one hookmesh
// binary embeds it instead). `orders health` checks a running instance.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/hookmesh/hookmesh/platform/envconfig"
	"github.com/hookmesh/hookmesh/platform/logging"
	"github.com/hookmesh/hookmesh/services/orders/app"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	logger := logging.New(os.Stderr, "orders")
	var cfg app.Config
	if err := envconfig.Load(&cfg); err != nil {
		logger.Error("invalid configuration", "error", err.Error())
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch {
	case len(args) == 0 || args[0] == "serve":
		if err := app.Run(ctx, cfg); err != nil {
			logger.Error("orders stopped", "error", err.Error())
			return 1
		}
	case args[0] == "health":
		if err := app.Health(ctx, cfg); err != nil {
			logger.Error("unhealthy", "error", err.Error())
			return 1
		}
	default:
		logger.Error("unknown command; use serve (default) or health", "command", args[0])
		return 2
	}
	return 0
}
