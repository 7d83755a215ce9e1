package rayjob

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
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
	zip2, err := buildZip(map[string]string{ScriptName: Source, RunnerScriptName: RunnerSource})
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
	r, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"deliberation_job.py": Source, "deliberation_runner.py": RunnerSource}
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

func TestSourceIsTheJob(t *testing.T) {
	t.Parallel()
	for _, want := range []string{"RAY_EXECUTOR_RESULT v1 ", "def main() -> int:", "import ray"} {
		if !strings.Contains(Source, want) {
			t.Errorf("embedded source lacks %q", want)
		}
	}
	if Entrypoint != "python deliberation_job.py" {
		t.Fatalf("Entrypoint = %q", Entrypoint)
	}
}

// The job is Python and cannot import the type registry, so this pins its copy to it.
func TestJobSendsTheRegisteredWakeUpType(t *testing.T) {
	t.Parallel()
	if want := `FINISHED_EVENT_TYPE = "` + deliberation.TypeFinished + `"`; !strings.Contains(Source, want) {
		t.Fatalf("embedded source lacks %s", want)
	}
}
