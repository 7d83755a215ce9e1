// Command get-active-jobs is the active jobs use case: it lists the Ray jobs of active deliberations, oldest first, one page at a time. It is a Knative function run by func-go; main only wires it.
package main

import (
	"os"

	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/wiring"
)

func main() {
	// The instance has logged why it could not start; the exit status tells the platform.
	if err := wiring.Start(transport.FunctionJobs); err != nil {
		os.Exit(1)
	}
}
