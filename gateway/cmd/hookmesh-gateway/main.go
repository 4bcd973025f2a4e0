// Command hookmesh-gateway runs the gateway alone, for deployments where email,
// analytics, orders and any other consumer run as their own processes, reached
// through the config's host:port targets (docker-compose.yml). `hookmesh serve`
// runs the whole mesh in one process instead.
//
//	hookmesh-gateway [serve]   serve until SIGINT/SIGTERM
//	hookmesh-gateway health    exit 0 if the running gateway's /healthz answers 200
package main

import (
	"os"

	"github.com/hookmesh/hookmesh/gateway"
	"github.com/hookmesh/hookmesh/platform/standalone"
)

func main() { os.Exit(standalone.Main("gateway", os.Args[1:], gateway.Run, gateway.Health)) }
