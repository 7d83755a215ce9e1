package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	for _, p := range programs {
		args = append(args, p.pkg)
	}
	s.log.Info("building the functions", "dir", dir)
	cmd := groupCommand(ctx, "go", args...)
	cmd.Dir = opts.root
	build := s.out.writer("build", os.Stderr)
	cmd.Stdout, cmd.Stderr = build, build
	err = cmd.Run()
	build.flush()
	if err != nil {
		return "", fmt.Errorf("go build: %w", err)
	}
	return dir, nil
}
