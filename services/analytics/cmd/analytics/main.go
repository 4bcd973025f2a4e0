// Command analytics runs the analytics service on its own: `analytics` serves
// until SIGINT/SIGTERM; `analytics health` checks the running server's gRPC
// health and exits 0 (SERVING) or 1, for container probes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/hookmesh/hookmesh/platform/envconfig"
	"github.com/hookmesh/hookmesh/platform/logging"
	"github.com/hookmesh/hookmesh/services/analytics/app"
)

func main() { os.Exit(run()) }

func run() int {
	logger := logging.New(os.Stderr, "analytics")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var cfg app.Config
	if err := envconfig.Load(&cfg); err != nil {
		logger.Error("load configuration", "error", err.Error())
		return 2
	}
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "health":
			if err := app.Health(ctx, cfg); err != nil {
				logger.Error("unhealthy", "error", err.Error())
				return 1
			}
			return 0
		default:
			logger.Error("unknown subcommand; usage: analytics [health]", "arg", os.Args[1])
			return 2
		}
	}
	if err := app.Run(ctx, cfg); err != nil {
		logger.Error("analytics service stopped", "error", err.Error())
		return 1
	}
	return 0
}
