package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rayexecutor/functions/shared/rayjob"
)

// TestPinRewritesWhatNamesThePackage: a stale record and manifest come out naming this source's
// package, with the revision raised once; pinning again changes nothing.
func TestPinRewritesWhatNamesThePackage(t *testing.T) {
	t.Parallel()
	name, _, err := rayjob.Package()
	if err != nil {
		t.Fatal(err)
	}
	digest, err := rayjob.PackageDigest()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	record, manifest := filepath.Join(dir, "runner_revision.txt"), filepath.Join(dir, "rayservice.yaml")
	stale := "_ray_pkg_" + strings.Repeat("0", 64) + ".zip"
	write := func(path, s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(record, "4 "+stale+"\n")
	write(manifest, "working_dir: https://example.com/runner/"+stale+"\nenv_vars:\n  RAYEXEC_RUNNER_REVISION: \"4\"\n"+
		"  RAYEXEC_RUNNER_DIGEST: \""+strings.Repeat("0", 64)+"\"\n")
	for range 2 {
		rev, err := pin(record, manifest)
		if err != nil || rev != 5 {
			t.Fatalf("pin = %d, %v; want revision 5", rev, err)
		}
	}
	gotRecord, _ := os.ReadFile(record)
	gotManifest, _ := os.ReadFile(manifest)
	if string(gotRecord) != "5 "+name+"\n" {
		t.Errorf("record %q", gotRecord)
	}
	if want := "working_dir: https://example.com/runner/" + name + "\nenv_vars:\n  RAYEXEC_RUNNER_REVISION: \"5\"\n" +
		"  RAYEXEC_RUNNER_DIGEST: \"" + digest + "\"\n"; string(gotManifest) != want {
		t.Errorf("manifest:\n%s\nwant:\n%s", gotManifest, want)
	}
	write(manifest, "no package here\n")
	if _, err := pin(record, manifest); err == nil {
		t.Error("a manifest naming no package was pinned")
	}
}
