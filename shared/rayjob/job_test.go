package rayjob

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rayexecutor/functions/shared/deliberation"
)

func TestPackageIsDeterministic(t *testing.T) {
	t.Parallel()
	name1, zip1, err := Package()
	if err != nil {
		t.Fatal(err)
	}
	// A fresh build, not the cached one, must give the same bytes.
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	zip2, err := buildZip(files)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(zip1, zip2) {
		t.Fatal("two builds of the package differ")
	}
	sum := sha256.Sum256(zip1)
	if want := "_ray_pkg_" + hex.EncodeToString(sum[:]) + ".zip"; name1 != want {
		t.Fatalf("name = %q, want %q", name1, want)
	}
	if !regexp.MustCompile(`^_ray_pkg_[0-9a-f]{64}\.zip$`).MatchString(name1) {
		t.Fatalf("name %q is not a Ray gcs package name", name1)
	}
}

func TestPackageReturnsACopy(t *testing.T) {
	t.Parallel()
	_, first, err := Package()
	if err != nil {
		t.Fatal(err)
	}
	first[0] ^= 0xff
	_, second, err := Package()
	if err != nil {
		t.Fatal(err)
	}
	if first[0] == second[0] {
		t.Fatal("Package shares its bytes with callers")
	}
}

func TestPackageHoldsTheScriptsAtItsRoot(t *testing.T) {
	t.Parallel()
	_, data, err := Package()
	if err != nil {
		t.Fatal(err)
	}
	want, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	for name, source := range map[string]string{"deliberation_job.py": Source, "deliberation_runner.py": RunnerSource} {
		if want[name] != source {
			t.Fatalf("%s is not the embedded source of that name", name)
		}
	}
	if _, ok := want["contract/runner_queue.json"]; !ok {
		t.Fatal("the package lacks the runner queue's contract")
	}
	r, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.File) != len(want) {
		t.Fatalf("entries = %v, want %v", r.File, want)
	}
	for _, file := range r.File {
		if got := file.Modified; !got.Equal(zipEpoch) {
			t.Fatalf("%s modified = %v, want the fixed %v", file.Name, got, zipEpoch)
		}
		f, err := file.Open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if source, ok := want[file.Name]; !ok || string(got) != source {
			t.Fatalf("%s is not the embedded source of that name", file.Name)
		}
	}
}

func TestZipOrderDoesNotDependOnMapOrder(t *testing.T) {
	t.Parallel()
	files := map[string]string{"b.py": "b", "a.py": "a", "c/d.py": "d"}
	want, err := buildZip(files)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		got, err := buildZip(files)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatal("zip bytes depend on map iteration order")
		}
	}
	r, err := zip.NewReader(bytes.NewReader(want), int64(len(want)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range r.File {
		names = append(names, f.Name)
	}
	if got := strings.Join(names, ","); got != "a.py,b.py,c/d.py" {
		t.Fatalf("entries = %s, want sorted", got)
	}
}

// TestPackageHoldsEveryModule keeps the embed list complete: every module of this folder but the
// tests and their support is in the package, as it is on disk, so an import the job or the runner
// adds cannot be missing on Ray.
func TestPackageHoldsEveryModule(t *testing.T) {
	t.Parallel()
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"contract/runner_queue.json": true}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".py") && !strings.HasPrefix(name, "test_") &&
			name != "conftest.py" && name != "fakemodel_client.py" {
			want[name] = true
		}
	}
	for name := range want {
		disk, err := os.ReadFile(filepath.FromSlash(name))
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := files[name]; !ok {
			t.Errorf("the package lacks %s: add it to the go:embed list of packageFiles", name)
		} else if got != string(disk) {
			t.Errorf("the package's %s is not the file on disk", name)
		}
	}
	for name := range files {
		if !want[name] {
			t.Errorf("the package holds %s, which is no module of the job or the runner", name)
		}
	}
}

func TestSourceIsTheJob(t *testing.T) {
	t.Parallel()
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{ScriptName: "def main() -> int:", "result.py": `RESULT_PREFIX = "RAY_EXECUTOR_RESULT v1 "`, "deliberation.py": "import ray"} {
		if !strings.Contains(files[file], want) {
			t.Errorf("embedded %s lacks %q", file, want)
		}
	}
	if Entrypoint != "python deliberation_job.py" {
		t.Fatalf("Entrypoint = %q", Entrypoint)
	}
}

// The job is Python and cannot import the type registry, so this pins its copy to it.
func TestJobSendsTheRegisteredWakeUpType(t *testing.T) {
	t.Parallel()
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	if want := `FINISHED_EVENT_TYPE = "` + deliberation.TypeFinished + `"`; !strings.Contains(files["wakeup.py"], want) {
		t.Fatalf("embedded wakeup.py lacks %s", want)
	}
}

// TestPackageDigestIsTheRunnersOwn: the digest the functions deploy the runner with is computed
// as the runner computes its own at start (test_package_digest.py checks the same files and
// digest), so a package that is the deployed one passes its check.
func TestPackageDigestIsTheRunnersOwn(t *testing.T) {
	t.Parallel()
	files := map[string]string{"a.py": "print(1)\n", "contract/b.json": "{\"é\": 1}\n"}
	if got, want := digestOf(files), "d04a6a44e41421a0faeed284476616d12448dac34b749284b841b23cb2f0e063"; got != want {
		t.Fatalf("digest %s, want %s", got, want)
	}
	if d, err := PackageDigest(); err != nil || len(d) != 64 {
		t.Fatalf("PackageDigest = %q, %v", d, err)
	}
}
