// Command orders runs the orders service on its own (the all-in-one hookmesh
// binary embeds it instead). `orders health` checks a running instance.
package main

import (
	"os"

	"github.com/hookmesh/hookmesh/platform/standalone"
	"github.com/hookmesh/hookmesh/services/orders/app"
)

func main() { os.Exit(run(os.Args[1:])) }

// run is main without the exit, for the exit-code test.
func run(args []string) int { return standalone.Main("orders", args, app.Run, app.Health) }
