//go:build faults

package faults

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/launcher"
	"github.com/rayexecutor/functions/internal/testenv"
)

// moduleRoot is the repository root: go test runs in deploy/faults.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s: %v", root, err)
	}
	return root
}

// buildFunctions builds every function binary in one go build and returns their directory.
func buildFunctions(t *testing.T, root string) string {
	t.Helper()
	dir := t.TempDir()
	if err := launcher.Build(t.Context(), launcher.GoBuild{Dir: root, Out: dir, Packages: launcher.FunctionPackages()}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// function is one running function binary; its log goes to a file, shown when the test fails.
type function struct {
	name string
	URL  string
	proc *launcher.Process
	log  string
}

// startFunction runs bin on addr with env (and of the test's environment only PATH and HOME, so
// nothing of the caller's shell leaks into the configuration) and waits until it is ready.
func startFunction(t *testing.T, bin, addr, logDir string, env map[string]string) *function {
	t.Helper()
	f := &function{name: filepath.Base(bin), URL: "http://" + addr, log: filepath.Join(logDir, filepath.Base(bin)+".log")}
	out, err := os.Create(f.log)
	if err != nil {
		t.Fatal(err)
	}
	// The process writes to a descriptor of its own: this one is not needed once it started.
	defer out.Close()
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LISTEN_ADDRESS=" + addr}
	f.proc, err = launcher.Start(launcher.Command{Path: bin, Env: launcher.Env(base, env), Stdout: out, Stderr: out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.proc.Stop(10 * time.Second)
		if t.Failed() {
			t.Logf("last warnings of %s:\n%s", f.name, f.warnings(20))
		}
	})
	if err := f.proc.WaitReady(t.Context(), f.URL+launcher.ReadinessPath, 20*time.Second, 20*time.Millisecond); err != nil {
		t.Fatalf("%v\n%s", err, f.warnings(20))
	}
	return f
}

// warnings returns the last n lines of the function's log above info level.
func (f *function) warnings(n int) string {
	file, err := os.Open(f.log)
	if err != nil {
		return err.Error()
	}
	defer file.Close()
	var lines []string
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct{ Level string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && (strings.EqualFold(line.Level, "info") || strings.EqualFold(line.Level, "debug")) {
			continue
		}
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// freeAddr is a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	return "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
}
