// Command combined runs the combined function (all four use cases behind one URL, what the root
// package's New returns) as a plain process: for the local stack (make run), and in the image ko
// builds for the combined Knative Service (make images: registry.example.com/rayexecutor/combined,
// deploy/knative/combined). `func build` generates such a main only inside its image build.
// Unlike func's, it starts through wiring.Start, so it speaks h2c as well as HTTP/1.1, as the four
// functions do.
package main

import (
	"os"

	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/wiring"
)

func main() {
	// The instance has logged why it could not start; the exit status tells the launcher.
	if err := wiring.Start(transport.FunctionCombined); err != nil {
		os.Exit(1)
	}
}
