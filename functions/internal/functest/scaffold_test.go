package functest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	yaml "go.yaml.in/yaml/v2"

	"github.com/rayexecutor/functions/internal/launcher"
	"github.com/rayexecutor/functions/internal/testenv"
)

// What `func build` does to a Go function (knative func v1.23, the host builder; pack, s2i and
// on-cluster builds scaffold the same way), reproduced so that CI, which cannot install func, builds
// and starts what func would:
//
//  1. It detects the function's signature: a top-level New() in a .go file of the function's root
//     is the instanced signature, a top-level Handle() the static one; the root needs a go.mod.
//  2. It writes its scaffolding for that signature and the invocation hint (instanced-http here)
//     into .func/build: a module "s" whose main.go imports the function's module and hands
//     New() to func-go's http.Start. Its go.mod requires func-go and the versions func pins for it,
//     replaces the function's module with ./f (a link to the function's root), takes the
//     function's go directive when newer and the function's requirements it lacks, and its go.sum
//     gets the function's. The function's own replace directives are not carried over.
//  3. It runs `go build` there (CGO_ENABLED=0). The host builder passes its own environment, not
//     build.buildEnvs; pack and s2i pass build.buildEnvs. The image holds the binary as /func/f,
//     and, with the host builder, the function's files minus .funcignore under /func. `func run`
//     (host runner) scaffolds the same into .func/runs/<port> and runs `go mod tidy`, then
//     `go build`, with its own environment.
//
// The versions func pins, from its templates/go/scaffolding/instanced-http/go.mod (v1.23.0):
const (
	funcScaffoldGo = "1.25.0"
	funcGoModule   = "knative.dev/func-go"
	funcGoVersion  = "v0.22.0"
)

var funcScaffoldIndirect = []string{
	"github.com/mattn/go-colorable@v0.1.15",
	"github.com/mattn/go-isatty@v0.0.23",
	"github.com/rs/zerolog@v1.35.1",
	"golang.org/x/sys@v0.47.0",
}

// funcSignature says which method signature func detects in dir: "instanced" (New), "static"
// (Handle), or an error as func reports it when there is none, or both.
func funcSignature(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var instanced, static bool
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			continue // func skips what does not parse
		}
		for _, d := range file.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
				instanced = instanced || fd.Name.Name == "New"
				static = static || fd.Name.Name == "Handle"
			}
		}
	}
	switch {
	case instanced && static:
		return "", errors.New("signature detection error: both static and instanced signatures found")
	case instanced:
		return "instanced", nil
	case static:
		return "static", nil
	}
	return "", errors.New("signature detection error: no signatures found")
}

// claimsFuncBuild tells whether func can build the function at dir: a go.mod beside a package
// with one of func's signatures.
func claimsFuncBuild(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return false
	}
	_, err := funcSignature(dir)
	return err == nil
}

// mainTemplate is the main.go of func's Go scaffolding for the instanced-http signature: it
// imports the function's package by its module path and starts New() with func-go.
var mainTemplate = template.Must(template.New("main.go").Parse(`package main

import (
	"fmt"
	"os"

	"knative.dev/func-go/http"

	f "{{.}}"
)

func main() {
	if err := http.Start(f.New()); err != nil {
		fmt.Fprintln(os.Stderr, err.Error())
		os.Exit(1)
	}
}
`))

// goModule is what `go mod edit -json` says of a go.mod.
type goModule struct {
	Module  struct{ Path string }
	Go      string
	Require []struct{ Path, Version string }
}

func goCommand(t *testing.T, dir string, env []string, args ...string) ([]byte, error) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	err := launcher.Run(ctx, launcher.Command{Path: "go", Args: args, Dir: dir, Env: env, Stdout: &out, Stderr: &out, Group: true}, 10*time.Second)
	return out.Bytes(), err
}

// scaffolded is a function built the way func builds it.
type scaffolded struct {
	// Binary is what func build puts into the image; RunBinary what func run starts.
	Binary, RunBinary string
	// ReadOnlyBuild is how `go build` without GOFLAGS=-mod=mod ended (nil: it built).
	ReadOnlyBuild error
}

func scaffold(t *testing.T, dir string) (scaffolded, error) {
	if sig, err := funcSignature(dir); err != nil {
		return scaffolded{}, fmt.Errorf("func build of %s would fail: %w", dir, err)
	} else if sig != "instanced" {
		return scaffolded{}, fmt.Errorf("%s has the %s signature; this test scaffolds instanced-http only", dir, sig)
	}
	work := t.TempDir()
	src, build, plain := filepath.Join(work, "src"), filepath.Join(work, "build"), filepath.Join(work, "plain")

	// What func sends into the build (pack, s2i, on-cluster): the function minus .funcignore. The
	// host builder links to the whole root, but the build must not need more than this.
	copyFiles(t, dir, src, funcBuildContext(t, dir))

	out, err := goCommand(t, src, nil, "mod", "edit", "-json")
	if err != nil {
		return scaffolded{}, fmt.Errorf("go mod edit -json: %w\n%s", err, out)
	}
	var fn goModule
	if err := json.Unmarshal(out, &fn); err != nil {
		return scaffolded{}, err
	}

	var main bytes.Buffer
	if err := mainTemplate.Execute(&main, fn.Module.Path); err != nil {
		return scaffolded{}, err
	}
	goVersion := funcScaffoldGo
	if fn.Go != "" && newerGo(fn.Go, goVersion) {
		goVersion = fn.Go
	}
	var mod strings.Builder
	fmt.Fprintf(&mod, "module s\n\ngo %s\n\nrequire (\n\t%s v0.0.0-00010101000000-000000000000\n\t%s %s\n)\n\nrequire (\n",
		goVersion, fn.Module.Path, funcGoModule, funcGoVersion)
	pinned := map[string]bool{fn.Module.Path: true, funcGoModule: true}
	var sums bytes.Buffer
	for _, pv := range append([]string{funcGoModule + "@" + funcGoVersion}, funcScaffoldIndirect...) {
		p, v, _ := strings.Cut(pv, "@")
		if p != funcGoModule {
			fmt.Fprintf(&mod, "\t%s %s // indirect\n", p, v)
			pinned[p] = true
		}
		// The scaffolding's go.sum carries these modules' sums; the go command gives the same,
		// checked against the checksum database.
		out, err := goCommand(t, work, nil, "mod", "download", "-json", pv)
		if err != nil && os.Getenv("CI") != "true" {
			t.Skipf("func's scaffolding needs %s, which the go command could not fetch (CI=true makes this a failure): %v\n%s", pv, err, out)
		}
		if err != nil {
			return scaffolded{}, fmt.Errorf("go mod download %s: %w\n%s", pv, err, out)
		}
		var dl struct{ Sum, GoModSum string }
		if err := json.Unmarshal(out, &dl); err != nil {
			return scaffolded{}, err
		}
		fmt.Fprintf(&sums, "%s %s %s\n%s %s/go.mod %s\n", p, v, dl.Sum, p, v, dl.GoModSum)
	}
	for _, r := range fn.Require { // the function's requirements the scaffolding lacks
		if !pinned[r.Path] {
			fmt.Fprintf(&mod, "\t%s %s\n", r.Path, r.Version)
		}
	}
	fmt.Fprintf(&mod, ")\n\nreplace %s => ./f\n", fn.Module.Path)
	fnSums, err := os.ReadFile(filepath.Join(src, "go.sum"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return scaffolded{}, err
	}
	for _, d := range []string{build, plain} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return scaffolded{}, err
		}
		if err := os.Symlink(src, filepath.Join(d, "f")); err != nil {
			return scaffolded{}, err
		}
		for name, content := range map[string][]byte{"main.go": main.Bytes(), "go.mod": []byte(mod.String()), "go.sum": append(sums.Bytes(), fnSums...)} {
			if err := os.WriteFile(filepath.Join(d, name), content, 0o644); err != nil {
				return scaffolded{}, err
			}
		}
	}

	// As func's host builder runs it: its own environment with cgo off. First as is, on the copy;
	// then with GOFLAGS=-mod=mod, which build.buildEnvs gives pack and s2i, and the documented
	// host builder commands give through the shell.
	env := append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	var res scaffolded
	if out, err := goCommand(t, plain, append(env, "GOFLAGS="+os.Getenv("GOFLAGS")), "build", "-o", filepath.Join(work, "plain.bin")); err != nil {
		res.ReadOnlyBuild = fmt.Errorf("%w\n%s", err, out)
	}
	res.Binary = filepath.Join(work, "f")
	goflags := strings.TrimSpace(os.Getenv("GOFLAGS") + " -mod=mod")
	if out, err := goCommand(t, build, append(env, "GOFLAGS="+goflags), "build", "-o", res.Binary); err != nil {
		return scaffolded{}, fmt.Errorf("go build of func's scaffolding for %s failed: %w\n%s", dir, err, out)
	}
	// As `func run` (host runner) builds it: `go mod tidy`, then `go build`, in its own
	// environment. The plain copy serves, its first build having failed.
	res.RunBinary = filepath.Join(work, "f.run")
	for _, args := range [][]string{{"mod", "tidy"}, {"build", "-o", res.RunBinary}} {
		if out, err := goCommand(t, plain, append(os.Environ(), "GOWORK=off"), args...); err != nil {
			return scaffolded{}, fmt.Errorf("go %s of func run's scaffolding for %s failed: %w\n%s", args[0], dir, err, out)
		}
	}
	return res, nil
}

// newerGo tells whether go version a is newer than b ("1.26.8" > "1.25.0").
func newerGo(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(pa), len(pb)); i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x > y
		}
	}
	return false
}

// funcRunEnv is the environment `func run` (host runner) gives a function: its own environment
// (shell), then LISTEN_ADDRESS, then run.envs of func.yaml after the -e flags, each appended
// so it wins. {{ env:VAR }} is taken from the shell; every other placeholder is passed on as it is.
// LISTEN_ADDRESS is left to the caller, which listens on a free port.
func funcRunEnv(shell map[string]string, envs []funcEnv, removed []string) map[string]string {
	out := map[string]string{}
	for k, v := range shell {
		out[k] = v
	}
	for _, e := range envs {
		if e.Name == nil || e.Value == nil || *e.Name == "LISTEN_ADDRESS" || slices.Contains(removed, *e.Name) {
			continue
		}
		v := *e.Value
		if m := localEnv.FindStringSubmatch(v); m != nil {
			v = shell[m[1]]
		}
		out[*e.Name] = v
	}
	return out
}

// localEnv is func's {{ env:VAR }}, which func run and func deploy resolve from their shell.
var localEnv = regexp.MustCompile(`^\{\{\s*env:(\w+)\s*\}\}$`)

// funcRunRemovals is the documented way to run the combined function with `func run`: every
// variable of func.yaml's run.envs dropped with -e NAME-, so that the shell's environment and the
// built-in defaults apply. docs/deploy.md shows it; TestFuncRunCommand runs it.
const funcRunRemovals = `awk '/^run:/{r=1;next} /^[^ ]/{r=0} r&&$2=="name:"{printf "-e %s- ",$3}' func.yaml`

func readFuncFile(t *testing.T, dir string) funcFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "func.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var f funcFile
	if err := yaml.UnmarshalStrict(raw, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func runEnvNames(f funcFile) []string {
	var names []string
	for _, e := range f.Run.Envs {
		if e.Name != nil {
			names = append(names, *e.Name)
		}
	}
	return names
}

// routeChecks are one route per function func can build, answered 200 when Redis is there.
var routeChecks = map[string]string{"ray-executor": "/stats"}

// TestFuncScaffolding builds every function that claims func compatibility (the root, the combined
// function) the way `func build` does (go build with GOFLAGS=-mod=mod, cgo off) and the way `func
// run` does (go mod tidy, then go build). The first must become ready and answer a route; the
// second, started with the environment the documented `func run` gives it, too, and started with
// func.yaml's cluster placeholders, it must stop at once with a message that names them. Renaming
// New() in function.go fails it: func's signature detection then finds nothing (and the generated
// main would not compile).
func TestFuncScaffolding(t *testing.T) {
	t.Parallel()
	dirs := []string{repoRoot}
	others, err := filepath.Glob(filepath.Join(repoRoot, "functions", "*", "func.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range others {
		dirs = append(dirs, filepath.Dir(f))
	}
	claimed := 0
	for _, dir := range dirs {
		if !claimsFuncBuild(dir) {
			if dir == repoRoot {
				_, err := funcSignature(dir)
				t.Fatalf("func build at the repository root would fail: %v", err)
			}
			continue // built with ko, deployed with func deploy --build=false (docs/deploy.md)
		}
		claimed++
		f := readFuncFile(t, dir)
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			route, ok := routeChecks[f.Name]
			if !ok {
				t.Fatalf("%s claims func compatibility; add a route to check to routeChecks", f.Name)
			}
			built, err := scaffold(t, dir)
			if err != nil {
				t.Fatal(err)
			}
			if built.ReadOnlyBuild != nil {
				t.Logf("without GOFLAGS=-mod=mod, as func's host builder runs it by default:\n%v", built.ReadOnlyBuild)
			}
			t.Run("func build", func(t *testing.T) {
				t.Parallel()
				// The image's binary, started as the Knative Service would (settings given).
				fn := Start(t, built.Binary, NewStack(t).Env(map[string]string{"LOG_LEVEL": "info"}))
				if got := Call(t, http.MethodGet, fn.URL+route, ""); got.Status != http.StatusOK {
					t.Fatalf("GET %s: %d %s", route, got.Status, got.Body)
				}
				// func's main starts func-go's own server, HTTP/1.1 only, which is why the combined
				// Service of deploy/knative runs ko's build of deploy/local/combined on its h2c port
				// and func deploy's Service stays on http1 ("HTTP/2 and gRPC" in docs/deploy.md).
				if res, err := H2C.Get(fn.URL + route); err == nil {
					res.Body.Close()
					t.Errorf("func's build answered h2c (%s %d): docs/deploy.md on func's build of the combined function is stale",
						res.Proto, res.StatusCode)
				}
			})
			t.Run("func run", func(t *testing.T) {
				t.Parallel()
				stack := NewStack(t)
				// Every run.envs entry dropped (-e NAME-): the shell's variables apply.
				env := funcRunEnv(stack.Env(map[string]string{"LOG_LEVEL": "info"}), f.Run.Envs, runEnvNames(f))
				fn := Start(t, built.RunBinary, env)
				got := Call(t, http.MethodGet, fn.URL+route, "")
				if got.Status != http.StatusOK {
					t.Fatalf("GET %s: %d %s", route, got.Status, got.Body)
				}
				if body := got.JSON(t); body["status"] != "healthy" {
					t.Errorf("GET %s: %v", route, body)
				}
			})
			t.Run("func run with func.yaml's placeholders", func(t *testing.T) {
				t.Parallel()
				shell := map[string]string{"REDIS_URL": "redis://127.0.0.1:1", "LOG_LEVEL": "info"}
				exit := Run(t, built.RunBinary, funcRunEnv(shell, f.Run.Envs, nil), 20*time.Second)
				if exit.Err == nil {
					t.Fatalf("started with func.yaml's placeholders:\n%s", exit.Log)
				}
				if exit.Took > 10*time.Second {
					t.Errorf("took %s to give up", exit.Took)
				}
				for _, want := range []string{"invalid configuration", "REDIS_URL: is the func placeholder",
					"{{ secret:ray-executor:REDIS_URL }}", "func run -e REDIS_URL-", "RAY_DISPATCH: is the func placeholder"} {
					if !strings.Contains(exit.Log, want) {
						t.Errorf("log lacks %q:\n%s", want, exit.Log)
					}
				}
				if strings.Contains(exit.Log, "must be a redis://") {
					t.Errorf("a placeholder reported as a malformed URL:\n%s", exit.Log)
				}
			})
		})
	}
	if claimed == 0 {
		t.Fatal("no function claims func compatibility")
	}
}

// TestFuncRunCommand keeps the documented `func run` flags what they claim: one -e NAME- for each
// variable of func.yaml's run.envs, and nothing else.
func TestFuncRunCommand(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, []byte(funcRunRemovals)) {
		t.Errorf("docs/deploy.md does not show %s", funcRunRemovals)
	}
	sh := testenv.Require(t, "sh")
	testenv.Require(t, "awk")
	cmd := exec.Command(sh, "-c", funcRunRemovals)
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, name := range runEnvNames(readFuncFile(t, repoRoot)) {
		want = append(want, "-e", name+"-")
	}
	if got := strings.Fields(string(out)); !slices.Equal(got, want) {
		t.Errorf("the documented command gives\n%v\nwant\n%v", got, want)
	}
}

// TestFuncSignatureDetection proves the detection follows func's: a renamed New() is no
// signature, and so no func build.
func TestFuncSignatureDetection(t *testing.T) {
	t.Parallel()
	source, err := os.ReadFile(filepath.Join(repoRoot, "function.go"))
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		code  string
		want  string
		claim bool
	}{
		"the root package":      {string(source), "instanced", true},
		"New renamed":           {strings.Replace(string(source), "func New()", "func NewCombined()", 1), "", false},
		"New as a method":       {"package function\n\ntype T struct{}\n\nfunc (T) New() {}\n", "", false},
		"Handle":                {"package function\n\nfunc Handle() {}\n", "static", true},
		"both":                  {"package function\n\nfunc New() {}\n\nfunc Handle() {}\n", "", false},
		"does not parse at all": {"package function\n\nfunc New( {}\n", "", false},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "function.go"), []byte(c.code), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/f\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		sig, err := funcSignature(dir)
		if sig != c.want || (err == nil) != (c.want != "") {
			t.Errorf("%s: signature %q (%v), want %q", name, sig, err, c.want)
		}
		if claim := claimsFuncBuild(dir); claim != c.claim {
			t.Errorf("%s: claims a func build: %v", name, claim)
		}
	}
	for _, f := range []string{"execute-deliberation", "get-deliberation-status", "get-stats", "get-active-jobs"} {
		if claimsFuncBuild(filepath.Join(repoRoot, "functions", f)) {
			t.Logf("functions/%s claims func compatibility: TestFuncScaffolding builds it", f)
		}
	}
}
