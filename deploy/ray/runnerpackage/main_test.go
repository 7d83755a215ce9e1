package main

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/rayexecutor/functions/shared/rayjob"
)

// TestWriteThePackage checks that the file is the functions' package, under its content-addressed
// name, with the job, the runner and their modules at the root of the zip (Ray then uses the root
// as working_dir) and the runner queue's contract under contract/.
func TestWriteThePackage(t *testing.T) {
	t.Parallel()
	path, err := write(filepath.Join(t.TempDir(), "bin"))
	if err != nil {
		t.Fatal(err)
	}
	name, want, err := rayjob.Package()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != name || !regexp.MustCompile(`^_ray_pkg_[0-9a-f]{64}\.zip$`).MatchString(name) {
		t.Errorf("wrote %s, want the package's content-addressed name %s", filepath.Base(path), name)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("the file is not rayjob.Package()'s zip")
	}
	zr, err := zip.NewReader(bytes.NewReader(got), int64(len(got)))
	if err != nil {
		t.Fatal(err)
	}
	sources, err := rayjob.Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{rayjob.ScriptName, rayjob.RunnerScriptName, "contract/runner_queue.json"} {
		if _, ok := sources[name]; !ok {
			t.Fatalf("rayjob.Files() lacks %s", name)
		}
	}
	for _, f := range zr.File {
		src, ok := sources[f.Name]
		if !ok {
			t.Errorf("unexpected entry %s", f.Name)
			continue
		}
		delete(sources, f.Name)
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(r)
		r.Close()
		if err != nil || string(body) != src {
			t.Errorf("%s does not hold the embedded source (%v)", f.Name, err)
		}
	}
	for name := range sources {
		t.Errorf("the zip lacks %s", name)
	}
}
