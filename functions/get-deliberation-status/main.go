// Command get-deliberation-status is the status use case: it answers where a deliberation stands, advancing it from what Ray reports, and takes the jobs' finished wake-ups. It is a Knative function run by func-go; main only wires it.
package main

import (
	"os"

	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/wiring"
)

func main() {
	// The instance has logged why it could not start; the exit status tells the platform.
	if err := wiring.Start(transport.FunctionStatus); err != nil {
		os.Exit(1)
	}
}
