package functest

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/rayexecutor/functions/internal/launcher"
)

var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Main runs a function package's tests and removes the binary they built.
func Main(m *testing.M) int {
	code := m.Run()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	return code
}

// Build builds the function in the current directory (the package under test) once per test
// process and returns the path of its binary.
func Build(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		wd, err := os.Getwd()
		if err == nil {
			built.dir, err = os.MkdirTemp("", "functest-")
		}
		if err == nil {
			// go build names the binary after the package's directory.
			built.path = filepath.Join(built.dir, filepath.Base(wd))
			err = launcher.Build(context.Background(), launcher.GoBuild{Out: built.dir, Packages: []string{"."}})
		}
		built.err = err
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}
