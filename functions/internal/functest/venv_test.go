package functest

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/launcher"
)

// pinned is the version deploy/local/requirements.txt pins for the Python package name.
func pinned(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, "deploy", "local", "requirements.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), name+"=="); ok {
			return v
		}
	}
	t.Fatalf("deploy/local/requirements.txt does not pin %s==VERSION", name)
	return ""
}

// venvPython is the project's Python, once it imports modules and holds the pinned versions of
// packages. Under CI=true a missing venv or package fails the test; elsewhere it skips (make venv
// installs them).
func venvPython(t *testing.T, modules string, packages ...string) string {
	t.Helper()
	python, err := filepath.Abs(filepath.Join(repoRoot, ".venv", "bin", "python"))
	if err != nil {
		t.Fatal(err)
	}
	want, versions := make([]string, len(packages)), make([]string, len(packages))
	for i, p := range packages {
		want[i], versions[i] = pinned(t, p), "m.version('"+p+"')"
	}
	var out bytes.Buffer
	err = launcher.Run(t.Context(), launcher.Command{Path: python, Args: []string{"-c",
		"import importlib.metadata as m, " + modules + "; print(" + strings.Join(versions, ", ") + ")"},
		Stdout: &out, Stderr: &out}, 5*time.Second)
	if got := strings.TrimSpace(out.String()); err != nil || got != strings.Join(want, " ") {
		msg := strings.Join(packages, ", ") + " " + strings.Join(want, " ") + " are not in .venv (make venv installs them): " + got
		if err != nil {
			msg += " (" + err.Error() + ")"
		}
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg + "; CI=true makes this a failure")
	}
	return python
}
