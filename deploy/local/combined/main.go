// Command combined runs the combined function (the root package's New: all four use cases behind
// one URL) as a plain process for the local stack. `func build` generates such a main only inside
// its image build, so `make run` needs one of its own.
package main

import (
	"os"

	fn "knative.dev/func-go/http"

	function "github.com/rayexecutor/functions"
)

func main() {
	// The instance has logged why it could not start; the exit status tells the launcher.
	if err := fn.Start(function.New()); err != nil {
		os.Exit(1)
	}
}
