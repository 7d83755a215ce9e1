// Command get-stats is the stats use case: it answers the service's counters from Redis. It is a Knative function run by func-go; main only wires it.
package main

import (
	"os"

	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/wiring"
)

func main() {
	// The instance has logged why it could not start; the exit status tells the platform.
	if err := wiring.Start(transport.FunctionStats); err != nil {
		os.Exit(1)
	}
}
