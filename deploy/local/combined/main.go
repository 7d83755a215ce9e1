// Command combined runs the combined function (all four use cases behind one URL, what the root
// package's New returns) as a plain process for the local stack. `func build` generates such a
// main only inside its image build, so `make run` needs one of its own.
package main

import (
	"os"

	fn "knative.dev/func-go/http"

	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/wiring"
)

func main() {
	// The instance has logged why it could not start; the exit status tells the launcher.
	if err := fn.Start(wiring.New(transport.FunctionCombined)); err != nil {
		os.Exit(1)
	}
}
