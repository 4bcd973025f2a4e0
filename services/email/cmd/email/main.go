// Command email runs the email service on its own: `email` (or `email serve`)
// serves until SIGINT/SIGTERM; `email health` checks the running server's gRPC
// health and exits 0 (SERVING) or 1, for container probes.
package main

import (
	"os"

	"github.com/hookmesh/hookmesh/platform/standalone"
	"github.com/hookmesh/hookmesh/services/email/app"
)

func main() { os.Exit(standalone.Main("email", os.Args[1:], app.Run, app.Health)) }
