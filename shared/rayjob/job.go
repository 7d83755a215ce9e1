// Package rayjob carries the deliberation job (deliberation_job.py) inside the Go binary and
// packs it the way Ray's working_dir expects, so the functions can upload it to any Ray cluster
// without an image of their own.
package rayjob

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// Source is the deliberation job's Python source, as submitted to Ray.
//
//go:embed deliberation_job.py
var Source string

// RunnerSource is the deliberation runner's Python source: the Ray Serve application that runs
// deliberations on warm workers with the job's code.
//
//go:embed deliberation_runner.py
var RunnerSource string

// ScriptName is the job's file name at the root of the working_dir package.
const ScriptName = "deliberation_job.py"

// RunnerScriptName is the runner's file name beside the job's.
const RunnerScriptName = "deliberation_runner.py"

// Entrypoint runs the job from the root of its working_dir package.
const Entrypoint = "python " + ScriptName

// RunnerImportPath is the runner's application builder, as a Serve config names it.
const RunnerImportPath = "deliberation_runner:app"

// zipEpoch is the fixed modification time of every entry: a timestamp would change the bytes,
// and so the package name, on every build.
var zipEpoch = time.Date(1980, time.January, 1, 0, 0, 0, 0, time.UTC)

var packageOnce = sync.OnceValues(func() (packed, error) {
	data, err := buildZip(map[string]string{ScriptName: Source, RunnerScriptName: RunnerSource})
	if err != nil {
		return packed{}, err
	}
	sum := sha256.Sum256(data)
	return packed{name: "_ray_pkg_" + hex.EncodeToString(sum[:]) + ".zip", data: data}, nil
})

type packed struct {
	name string
	data []byte
}

// Package returns the working_dir package of the job and the runner: a deterministic zip holding
// deliberation_job.py and deliberation_runner.py at its root, and its content-addressed name in
// Ray's gcs:// naming (_ray_pkg_<sha256>.zip), so the same source always maps to the same URI
// gcs://<name> and a changed one never collides. The returned slice is the caller's own copy.
func Package() (name string, zipData []byte, err error) {
	p, err := packageOnce()
	if err != nil {
		return "", nil, err
	}
	return p.name, bytes.Clone(p.data), nil
}

// buildZip writes files in sorted order with fixed metadata, so equal contents give equal bytes.
func buildZip(files map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		header := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: zipEpoch}
		header.SetMode(0o644)
		f, err := w.CreateHeader(header)
		if err != nil {
			return nil, fmt.Errorf("zip %s: %w", name, err)
		}
		if _, err := f.Write([]byte(files[name])); err != nil {
			return nil, fmt.Errorf("zip %s: %w", name, err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("zip: %w", err)
	}
	return buf.Bytes(), nil
}
