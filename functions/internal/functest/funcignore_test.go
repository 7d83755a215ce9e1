package functest

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// funcAlwaysIgnored are the names func leaves out of every build, whatever .funcignore says.
var funcAlwaysIgnored = []string{".git", ".func", ".funcignore", ".gitignore"}

// funcIgnorePatterns reads dir/.funcignore as func does: one pattern a line, blank lines and lines
// starting with # skipped.
func funcIgnorePatterns(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, ".funcignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var patterns []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return patterns
}

// funcIgnores tells whether func leaves rel (slash-separated, relative to the function's root) out
// of the build, with the four pattern forms func documents for its host builder: "/x" is x at the
// root and everything below it; "x/" is "x"; a bare name or glob is matched against the base name
// (at any depth) and against the whole relative path.
func funcIgnores(rel string, patterns []string) bool {
	base := path.Base(rel)
	if slices.Contains(funcAlwaysIgnored, base) {
		return true
	}
	for _, p := range patterns {
		if anchored, ok := strings.CutPrefix(p, "/"); ok {
			if rel == anchored || strings.HasPrefix(rel, anchored+"/") {
				return true
			}
			continue
		}
		p = strings.TrimSuffix(p, "/")
		if m, _ := path.Match(p, base); m {
			return true
		}
		if m, _ := path.Match(p, rel); m {
			return true
		}
	}
	return false
}

// funcBuildContext lists the files func sends into the build of the function at dir (and that the
// host builder copies into the image under /func), walking the tree as func does: an ignored
// directory is not entered. Paths are slash-separated and relative to dir.
func funcBuildContext(t *testing.T, dir string) []string {
	t.Helper()
	patterns := funcIgnorePatterns(t, dir)
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if funcIgnores(rel, patterns) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// copyFiles copies files (relative to from) into to, keeping their modes.
func copyFiles(t *testing.T, from, to string, files []string) {
	t.Helper()
	for _, rel := range files {
		src := filepath.Join(from, filepath.FromSlash(rel))
		dst := filepath.Join(to, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := copyFile(src, dst); err != nil {
			t.Fatal(err)
		}
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// buildInputs lists what building the package at dir needs: go.mod, go.sum, and for every package
// of the module it depends on, its Go files (those of other build tags too, but no tests) and the
// files it embeds. Paths are slash-separated and relative to dir, the module root.
func buildInputs(t *testing.T, dir string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json=Dir,Module,Standard,GoFiles,CgoFiles,IgnoredGoFiles,EmbedFiles", ".")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("go list: %v\n%s", err, exit.Stderr)
		}
		t.Fatal(err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	inputs := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			Dir                                           string
			Standard                                      bool
			Module                                        *struct{ Main bool }
			GoFiles, CgoFiles, IgnoredGoFiles, EmbedFiles []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Standard || p.Module == nil || !p.Module.Main {
			continue
		}
		rel, err := filepath.Rel(abs, p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range slices.Concat(p.GoFiles, p.CgoFiles, p.IgnoredGoFiles, p.EmbedFiles) {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			inputs = append(inputs, path.Join(filepath.ToSlash(rel), f))
		}
	}
	slices.Sort(inputs)
	return slices.Compact(inputs)
}

// TestFuncIgnore keeps .funcignore exact: what func sends into the combined function's image build
// is what that build needs (go.mod, go.sum, function.go, the imported packages of shared/ with their
// embedded files) plus func.yaml, which on-cluster builds read. A file that would ship without being
// needed, or a needed file left out, fails here; so does a pattern form one of func's builders does
// not share (negation and ** work with pack only).
func TestFuncIgnore(t *testing.T) {
	t.Parallel()
	for _, p := range funcIgnorePatterns(t, repoRoot) {
		if strings.HasPrefix(p, "!") || strings.Contains(p, "**") {
			t.Errorf(".funcignore pattern %q: func's host builder supports neither negation nor **", p)
		}
	}
	shipped := funcBuildContext(t, repoRoot)
	want := append(buildInputs(t, repoRoot), "func.yaml")
	slices.Sort(want)
	for _, f := range shipped {
		if !slices.Contains(want, f) {
			t.Errorf("%s would go into the image, which does not need it: add it to .funcignore", f)
		}
	}
	for _, f := range want {
		if !slices.Contains(shipped, f) {
			t.Errorf("%s is needed by the build but .funcignore leaves it out", f)
		}
	}
	for _, dir := range []string{"deploy", "docs", "bin", ".venv", "functions", ".ci"} {
		if !funcIgnores(dir, funcIgnorePatterns(t, repoRoot)) {
			t.Errorf("%s/ is not ignored", dir)
		}
	}
}

// TestFuncIgnoreMatching proves the matching above follows func's four forms.
func TestFuncIgnoreMatching(t *testing.T) {
	t.Parallel()
	patterns := []string{"/docs", "build/", "*.tmp", "notes.txt", "/shared/fakes"}
	for rel, want := range map[string]bool{
		"docs":                  true,
		"docs/api.md":           true,
		"shared/docs":           false, // anchored at the root
		"build":                 true,
		"a/build":               true, // a bare name matches at any depth
		"x.tmp":                 true,
		"a/b/x.tmp":             true,
		"notes.txt":             true,
		"a/notes.txt":           true,
		"notes.txt.bak":         false,
		"shared/fakes/store.go": true,
		"shared/fakesx/a.go":    false,
		".git":                  true,
		"a/.gitignore":          true,
		".func":                 true,
		"go.mod":                false,
	} {
		if got := funcIgnores(rel, patterns); got != want {
			t.Errorf("funcIgnores(%q) = %v, want %v", rel, got, want)
		}
	}
}
