// Command analytics runs the analytics service on its own: `analytics` (or
// `analytics serve`) serves until SIGINT/SIGTERM; `analytics health` checks the
// running server's gRPC health and exits 0 (SERVING) or 1, for container probes.
package main

import (
	"os"

	"github.com/hookmesh/hookmesh/platform/standalone"
	"github.com/hookmesh/hookmesh/services/analytics/app"
)

func main() { os.Exit(standalone.Main("analytics", os.Args[1:], app.Run, app.Health)) }
