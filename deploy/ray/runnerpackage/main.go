// Command runnerpackage writes the deliberation runner's working_dir package, the zip that
// deploy/ray/rayservice.yaml names (`make runner-package`): rayjob.Package(), the same
// deterministic zip the functions upload, holding deliberation_job.py, deliberation_runner.py,
// the modules they import and the runner queue's contract. It also pins the package where it is
// named (pin.go): the runner's revision record and the RayService's working_dir and revision.
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
	revisionFile := flag.String("revision", filepath.Join("shared", "rayjob", "runner_revision.txt"), "the runner's revision record")
	rayService := flag.String("rayservice", filepath.Join("deploy", "ray", "rayservice.yaml"), "the RayService manifest to pin")
	flag.Parse()
	path, err := write(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "runnerpackage:", err)
		os.Exit(1)
	}
	rev, err := pin(*revisionFile, *rayService)
	if err != nil {
		fmt.Fprintln(os.Stderr, "runnerpackage:", err)
		os.Exit(1)
	}
	fmt.Println(path)
	fmt.Printf("Runner revision %d; %s and %s name the package.\n"+
		"The functions upload it themselves (RAY_SERVE_DEPLOY). For the RayService alternative, publish it at an\n"+
		"https URL the Ray cluster can fetch, keeping the name %s, and set working_dir's host (docs/deploy.md).\n",
		rev, *revisionFile, *rayService, filepath.Base(path))
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
