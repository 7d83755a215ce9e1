package functest

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/launcher"
	"github.com/rayexecutor/functions/shared/transport"
)

// The tests that run every function's binary (the CloudEvents SDK, RPC and Python client tests)
// share one build of them per test process: go build links five binaries in one run.

func TestMain(m *testing.M) {
	code := m.Run()
	if binariesBuilt.dir != "" {
		_ = os.RemoveAll(binariesBuilt.dir)
	}
	os.Exit(code)
}

var binariesBuilt struct {
	once sync.Once
	dir  string
	err  error
}

// combined is the binary of the combined function (deploy/local/combined), named after its package.
const combined = "combined"

// functionBinaries builds the four functions and the combined function once per test process and
// returns the directory holding them, each named after its package's directory.
func functionBinaries(t testing.TB) string {
	t.Helper()
	binariesBuilt.once.Do(func() {
		dir, err := os.MkdirTemp("", "functest-bin-")
		if err == nil {
			binariesBuilt.dir = dir
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			err = launcher.Build(ctx, launcher.GoBuild{Dir: repoRoot, Out: dir,
				Packages: append(launcher.FunctionPackages(), "./deploy/local/combined")})
		}
		binariesBuilt.err = err
	})
	if binariesBuilt.err != nil {
		t.Fatal(binariesBuilt.err)
	}
	return binariesBuilt.dir
}

// binaryOf is the binary name of function f.
func binaryOf(f transport.Function) string {
	if f == transport.FunctionCombined {
		return combined
	}
	return string(f)
}
