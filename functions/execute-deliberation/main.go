// Command execute-deliberation is the execute use case: it validates a deliberation request, records it durably in Redis and submits its job to Ray. It is a Knative function run by func-go; main only wires it.
package main

import (
	"os"

	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/wiring"
)

func main() {
	// The instance has logged why it could not start; the exit status tells the platform.
	if err := wiring.Start(transport.FunctionExecute); err != nil {
		os.Exit(1)
	}
}
