// Package rayjob carries what runs on Ray inside the Go binary: the deliberation job
// (deliberation_job.py), the runner (deliberation_runner.py, its Serve entry point, and its
// runner_*.py modules), the Python modules both import and the runner queue's contract
// (contract/runner_queue.json). It packs them the way Ray's working_dir expects, so the functions
// can upload them to any Ray cluster without an image of their own.
package rayjob

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
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

// packageFiles is the working_dir package's content: the job, the runner, the modules they import
// and the contract the runner reads, at the paths Python finds them (tests and their fakes stay
// out; TestPackageHoldsEveryModule keeps the list complete).
//
//go:embed deliberation_job.py deliberation_runner.py
//go:embed agent.py autoscaling.py call_limits.py deliberation.py fields.py judge.py messages.py model_client.py policy.py
//go:embed limits.py model_keys.py package_digest.py prompts.py queue_contract.py request.py result.py tracing.py wakeup.py
//go:embed runner_attempt.py runner_cluster.py runner_consumer.py runner_drain.py runner_figures.py runner_metrics.py runner_queue.py
//go:embed runner_redis.py runner_settings.py runner_slots.py
//go:embed contract/runner_queue.json
var packageFiles embed.FS

// ScriptName is the job's file name at the root of the working_dir package.
const ScriptName = "deliberation_job.py"

// RunnerScriptName is the runner's file name beside the job's.
const RunnerScriptName = "deliberation_runner.py"

// Entrypoint runs the job from the root of its working_dir package.
const Entrypoint = "python " + ScriptName

// RunnerImportPath is the runner's application builder, as a Serve config names it.
const RunnerImportPath = "deliberation_runner:app"

// RunnerRedisPin is what the runner needs beyond a stock Ray image (rayproject/ray has no
// redis-py): its Redis client, pinned as deploy/local/requirements.txt pins it for the tests (a
// test of deploy/knative keeps the two equal).
const RunnerRedisPin = "redis==8.2.0"

// RunnerOTLPPin is the OTLP exporter the runner's spans go out with; pinned as
// deploy/local/requirements.txt pins it, and hashed with what it needs in runner_requirements.txt.
const RunnerOTLPPin = "opentelemetry-exporter-otlp-proto-http==1.45.2"

//go:embed runner_requirements.txt
var runnerRequirements string

// RunnerRequirements are the runner's pip requirements over a stock Ray image, each pinned and
// with the sha256 of every file pip may fetch for it (runner_requirements.txt): the runner's
// runtime_env installs them with --require-hashes.
func RunnerRequirements() []string {
	var out []string
	for _, line := range strings.Split(runnerRequirements, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

// zipEpoch is the fixed modification time of every entry: a timestamp would change the bytes,
// and so the package name, on every build.
var zipEpoch = time.Date(1980, time.January, 1, 0, 0, 0, 0, time.UTC)

var packageOnce = sync.OnceValues(func() (packed, error) {
	files, err := Files()
	if err != nil {
		return packed{}, err
	}
	data, err := buildZip(files)
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

// Files returns the package's files by their path in the zip (slash-separated, from its root):
// the caller's own map.
func Files() (map[string]string, error) {
	files := map[string]string{}
	err := fs.WalkDir(packageFiles, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := packageFiles.ReadFile(path)
		files[path] = string(data)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read the embedded package: %w", err)
	}
	return files, nil
}

// Package returns the working_dir package of the job and the runner: a deterministic zip holding
// Files() (deliberation_job.py, deliberation_runner.py and their modules at its root, the runner
// queue's contract under contract/), and its content-addressed name in
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

// PackageDigest is the digest of the package's files as the runner checks its own at start
// (package_digest.py, RAYEXEC_RUNNER_DIGEST): sha256 over every file in path order, each as its
// path, a newline, its length, a newline and its bytes.
func PackageDigest() (string, error) {
	files, err := Files()
	if err != nil {
		return "", err
	}
	return digestOf(files), nil
}

func digestOf(files map[string]string) string {
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(h, "%s\n%d\n", name, len(files[name]))
		h.Write([]byte(files[name]))
	}
	return hex.EncodeToString(h.Sum(nil))
}
