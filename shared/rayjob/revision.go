package rayjob

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"
)

// revisionRecord is "<revision> <package name>": the runner's revision and the package it was
// given for. `make runner-package` raises the revision when the package's name (its content)
// changed; TestRevisionNamesThePackage fails until it has, so every change of the Python moves
// the revision up.
//
//go:embed runner_revision.txt
var revisionRecord string

// RunnerRevision orders runner packages: a higher one is newer. Content hashes name a package
// but say nothing of which is newer; the functions that deploy the runner need that, so an older
// binary never replaces a newer runner (shared/rayserve).
func RunnerRevision() (revision int, packageName string, err error) {
	return parseRevision(revisionRecord)
}

func parseRevision(record string) (int, string, error) {
	n, name, ok := strings.Cut(strings.TrimSpace(record), " ")
	rev, err := strconv.Atoi(n)
	if !ok || err != nil || rev < 1 || !strings.HasPrefix(name, "_ray_pkg_") {
		return 0, "", fmt.Errorf("runner_revision.txt: want \"<revision> <package name>\", got %q", record)
	}
	return rev, name, nil
}

// NextRevision is the record for the current package, given the recorded one: the same when the
// package did not change, the revision plus one when it did.
func NextRevision(record string) (string, error) {
	rev, recorded, err := parseRevision(record)
	if err != nil {
		return "", err
	}
	name, _, err := Package()
	if err != nil {
		return "", err
	}
	if name != recorded {
		rev++
	}
	return fmt.Sprintf("%d %s\n", rev, name), nil
}
