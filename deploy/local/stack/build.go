package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rayexecutor/functions/internal/launcher"
)

// binaries returns the directory that holds every program's binary: the prebuilt one given with
// -bin-dir, or a temporary one (removed when the stack stops) where they are built now from the
// module at root, in one `go build` so the packages compile in parallel.
func (s *stack) binaries(ctx context.Context, opts options) (string, error) {
	if opts.binDir != "" {
		for _, p := range programs {
			path := filepath.Join(opts.binDir, p.binary)
			if fi, err := os.Stat(path); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				return "", fmt.Errorf("-bin-dir %s: no executable %s", opts.binDir, p.binary)
			}
		}
		return opts.binDir, nil
	}
	dir, err := os.MkdirTemp("", "rxstack-bin-")
	if err != nil {
		return "", err
	}
	s.onStop("binaries", func() { _ = os.RemoveAll(dir) })
	s.log.Info("building the functions", "dir", dir)
	build := s.out.writer("build", os.Stderr)
	err = launcher.Build(ctx, launcher.GoBuild{Dir: opts.root, Out: dir, Packages: packages(), Log: build})
	build.flush()
	if err != nil {
		return "", err
	}
	return dir, nil
}
