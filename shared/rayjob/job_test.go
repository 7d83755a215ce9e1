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
)

func TestPackageIsDeterministic(t *testing.T) {
	t.Parallel()
	name1, zip1, err := Package()
	if err != nil {
		t.Fatal(err)
	}
	// A fresh build, not the cached one, must give the same bytes.
	zip2, err := buildZip(map[string]string{ScriptName: Source})
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

func TestPackageHoldsTheScriptAtItsRoot(t *testing.T) {
	t.Parallel()
	_, data, err := Package()
	if err != nil {
		t.Fatal(err)
	}
	r, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.File) != 1 || r.File[0].Name != "deliberation_job.py" {
		t.Fatalf("entries = %v, want only deliberation_job.py", r.File)
	}
	if got := r.File[0].Modified; !got.Equal(zipEpoch) {
		t.Fatalf("modified = %v, want the fixed %v", got, zipEpoch)
	}
	f, err := r.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != Source {
		t.Fatal("zipped script differs from the embedded source")
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
