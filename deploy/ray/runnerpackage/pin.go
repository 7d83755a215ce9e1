package main

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/rayexecutor/functions/shared/rayjob"
)

var (
	packageName = regexp.MustCompile(`_ray_pkg_[0-9a-f]{64}\.zip`)
	revisionVar = regexp.MustCompile(`(RAYEXEC_RUNNER_REVISION: )"\d+"`)
	digestVar   = regexp.MustCompile(`(RAYEXEC_RUNNER_DIGEST: )"[0-9a-f]{64}"`)
)

// pin brings the files that name the runner package up to this source's package: the revision
// record (raised when the content changed) and the RayService's working_dir, revision and
// package digest (which each replica checks its files against at start), so
// nobody edits a hash by hand. It returns the revision.
func pin(revisionFile, rayService string) (int, error) {
	old, err := os.ReadFile(revisionFile)
	if err != nil {
		return 0, err
	}
	record, err := rayjob.NextRevision(string(old))
	if err != nil {
		return 0, err
	}
	rev, _ := strconv.Atoi(strings.Fields(record)[0])
	name := strings.Fields(record)[1]
	if err := os.WriteFile(revisionFile, []byte(record), 0o644); err != nil {
		return 0, err
	}
	manifest, err := os.ReadFile(rayService)
	if err != nil {
		return 0, err
	}
	if n := len(packageName.FindAll(manifest, -1)); n != 1 {
		return 0, fmt.Errorf("%s names %d runner packages, want one", rayService, n)
	}
	if n := len(revisionVar.FindAll(manifest, -1)); n != 1 {
		return 0, fmt.Errorf("%s sets RAYEXEC_RUNNER_REVISION %d times, want once", rayService, n)
	}
	if n := len(digestVar.FindAll(manifest, -1)); n != 1 {
		return 0, fmt.Errorf("%s sets RAYEXEC_RUNNER_DIGEST %d times, want once", rayService, n)
	}
	digest, err := rayjob.PackageDigest()
	if err != nil {
		return 0, err
	}
	manifest = digestVar.ReplaceAll(manifest, []byte(`${1}"`+digest+`"`))
	manifest = packageName.ReplaceAll(manifest, []byte(name))
	manifest = revisionVar.ReplaceAll(manifest, []byte(`${1}"`+strconv.Itoa(rev)+`"`))
	return rev, os.WriteFile(rayService, manifest, 0o644)
}
