package launcher

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rayexecutor/functions/internal/testenv"
)

func TestBuild(t *testing.T) {
	t.Parallel()
	mod := t.TempDir()
	write(t, mod, "go.mod", "module tiny\n\ngo 1.21\n")
	write(t, mod, "cmd/tiny/main.go", "package main\n\nvar tag = \"none\"\n\nfunc main() { print(tag) }\n")
	write(t, mod, "cmd/tiny/tag.go", "//go:build extra\n\npackage main\n\nfunc init() { tag = \"extra\" }\n")
	out := filepath.Join(t.TempDir(), "bin")
	if err := Build(t.Context(), GoBuild{Dir: mod, Out: out, Tags: []string{"extra"}, Packages: []string{"./cmd/tiny"}}); err != nil {
		t.Fatal(err)
	}
	said, err := exec.Command(filepath.Join(out, "tiny")).CombinedOutput()
	if err != nil || string(said) != "extra" {
		t.Errorf("the built binary said %q (%v), want the tagged file's %q", said, err, "extra")
	}

	write(t, mod, "cmd/tiny/broken.go", "package main\n\nfunc broken() { undefined() }\n")
	err = Build(t.Context(), GoBuild{Dir: mod, Out: out, Packages: []string{"./cmd/tiny"}})
	if err == nil || !strings.Contains(err.Error(), "undefined: undefined") {
		t.Errorf("err = %v, want the compiler's message", err)
	}
	log := &testenv.Buffer{}
	err = Build(t.Context(), GoBuild{Dir: mod, Out: out, Packages: []string{"./cmd/tiny"}, Log: log})
	if err == nil || strings.Contains(err.Error(), "undefined") || !strings.Contains(log.String(), "undefined: undefined") {
		t.Errorf("with a Log: err = %v, log %q; want the compiler's message in the log alone", err, log)
	}
}

func TestFunctionPackages(t *testing.T) {
	t.Parallel()
	pkgs := FunctionPackages()
	if len(pkgs) != 4 {
		t.Fatalf("%d function packages, want 4: %q", len(pkgs), pkgs)
	}
	for _, pkg := range pkgs {
		if _, err := os.Stat(filepath.Join("..", "..", pkg, "main.go")); err != nil {
			t.Errorf("%s: %v", pkg, err)
		}
	}
}

func write(t *testing.T, dir, name, text string) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
