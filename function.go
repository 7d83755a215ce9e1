// Package function is the combined Ray executor function: the four use cases (execute, status,
// stats, active jobs) behind one URL, with CloudEvents routed by type and RayExecutorService over
// gRPC, gRPC-Web and Connect. `func build` scaffolds its
// main around New, which is why this package sits at the root of the module beside go.mod.
package function

import (
	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/wiring"
)

// New returns the combined function's instance; func-go calls its Start once it listens.
func New() *wiring.Instance {
	return wiring.New(transport.FunctionCombined)
}
