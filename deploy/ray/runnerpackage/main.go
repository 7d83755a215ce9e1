// Command runnerpackage writes the deliberation runner's working_dir package, the zip that
// deploy/ray/rayservice.yaml names (`make runner-package`): rayjob.Package(), the same
// deterministic zip the functions upload, holding deliberation_job.py, deliberation_runner.py,
// the modules they import and the runner queue's contract.
// The file keeps the package's content-addressed name (_ray_pkg_<sha256>.zip), so changed code is
// published under a new URL: a Ray node keeps what it fetched from a URL and does not fetch it again.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rayexecutor/functions/shared/rayjob"
)

func main() {
	dir := flag.String("dir", "bin", "the folder to write the package into")
	flag.Parse()
	path, err := write(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "runnerpackage:", err)
		os.Exit(1)
	}
	fmt.Println(path)
	fmt.Printf("Publish it at an https URL the Ray cluster can fetch, keeping the name %s,\n"+
		"then set working_dir in deploy/ray/rayservice.yaml to that URL (docs/deploy.md).\n", filepath.Base(path))
}

// write puts the package into dir under its own name and returns the file's path.
func write(dir string) (string, error) {
	name, data, err := rayjob.Package()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return "", err
	}
	return path, nil
}
