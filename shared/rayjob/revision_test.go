package rayjob

import (
	"strings"
	"testing"
)

// TestRevisionNamesThePackage: the recorded revision belongs to the package this source builds;
// after a change of the Python, `make runner-package` raises it.
func TestRevisionNamesThePackage(t *testing.T) {
	t.Parallel()
	_, recorded, err := RunnerRevision()
	if err != nil {
		t.Fatal(err)
	}
	name, _, err := Package()
	if err != nil {
		t.Fatal(err)
	}
	if recorded != name {
		t.Errorf("runner_revision.txt names %s, the package is %s: run make runner-package", recorded, name)
	}
}

func TestNextRevisionRisesOnlyWithTheContent(t *testing.T) {
	t.Parallel()
	name, _, err := Package()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ record, want string }{
		{"7 " + name + "\n", "7 " + name + "\n"},
		{"7 _ray_pkg_" + strings.Repeat("0", 64) + ".zip", "8 " + name + "\n"},
	} {
		got, err := NextRevision(c.record)
		if err != nil || got != c.want {
			t.Errorf("NextRevision(%q) = %q, %v; want %q", c.record, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "x " + name, "0 " + name, "3", "3 package.zip"} {
		if _, err := NextRevision(bad); err == nil {
			t.Errorf("NextRevision(%q) accepted a malformed record", bad)
		}
	}
}
