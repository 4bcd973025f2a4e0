package standalone

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/hookmesh/hookmesh/platform/envconfig"
	"github.com/hookmesh/hookmesh/platform/logging"
)

// Main is the body of a service binary's main. It loads C from the
// environment (platform/envconfig), then with no argument or "serve" runs the
// service until SIGINT/SIGTERM, and with "health" checks the running one. It
// returns the exit code: 2 for a usage or configuration error, 1 when serving
// fails or the service is unhealthy.
func Main[C any](component string, args []string, run, health func(context.Context, C) error) int {
	logger := logging.New(os.Stderr, component)
	var cfg C
	if err := envconfig.Load(&cfg); err != nil {
		logger.Error("invalid configuration", "error", err.Error())
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch {
	case len(args) == 0 || args[0] == "serve":
		if err := run(ctx, cfg); err != nil {
			logger.Error("service stopped", "error", err.Error())
			return 1
		}
	case args[0] == "health":
		if err := health(ctx, cfg); err != nil {
			logger.Error("unhealthy", "error", err.Error())
			return 1
		}
	default:
		logger.Error("unknown command; use serve (default) or health", "command", args[0])
		return 2
	}
	return 0
}
