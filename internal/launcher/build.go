package launcher

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rayexecutor/functions/shared/transport"
)

// GoBuild is one `go build` of several packages, which compiles them in parallel.
type GoBuild struct {
	// Dir is where go runs, which the packages are relative to; "" is the working directory.
	Dir string
	// Out is the directory the binaries go into, each named after its package's directory.
	Out      string
	Tags     []string
	Packages []string
	// Log receives the compiler's output as it comes; nil keeps it for the error.
	Log io.Writer
}

// buildGrace is how long a cancelled build may take to stop before it is killed.
const buildGrace = 10 * time.Second

// Build runs b. The go command runs in a process group of its own, so that cancelling ctx stops
// the compilers it started too.
func Build(ctx context.Context, b GoBuild) error {
	if err := os.MkdirAll(b.Out, 0o755); err != nil {
		return err
	}
	args := []string{"build", "-o", b.Out + string(os.PathSeparator)}
	if len(b.Tags) > 0 {
		args = append(args, "-tags", strings.Join(b.Tags, ","))
	}
	var out bytes.Buffer
	log := b.Log
	if log == nil {
		log = &out
	}
	err := Run(ctx, Command{Path: "go", Args: append(args, b.Packages...), Dir: b.Dir, Stdout: log, Stderr: log, Group: true}, buildGrace)
	if err != nil && out.Len() > 0 {
		return fmt.Errorf("go build: %w\n%s", err, out.Bytes())
	}
	if err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	return nil
}

// FunctionPackages are the packages of the functions, relative to the module root.
func FunctionPackages() []string {
	pkgs := make([]string, len(transport.Functions))
	for i, f := range transport.Functions {
		pkgs[i] = "./functions/" + string(f)
	}
	return pkgs
}
