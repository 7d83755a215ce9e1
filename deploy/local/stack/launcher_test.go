package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/launcher"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/config"
)

// repoRoot is the module root, three levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// requireRay checks for the project venv's ray, which rayhead.sh starts heads with. Like
// testenv.Require, a missing one skips the test, or fails it under CI=true.
func requireRay(t *testing.T, root string) {
	t.Helper()
	path := filepath.Join(root, ".venv", "bin", "ray")
	if fi, err := os.Stat(path); err == nil && fi.Mode()&0o111 != 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true: run `make venv`", path)
	}
	t.Skipf("%s not installed (`make venv`); skipping (CI=true makes this a failure)", path)
}

// built is the launcher and every program, built once for all the tests of the package.
var built struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// binDir returns the directory with the launcher ("stack") and the programs, named as the
// launcher's -bin-dir expects them.
func binDir(t *testing.T, root string) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "rxstack-test-"); built.err != nil {
			return
		}
		built.err = launcher.Build(context.Background(), launcher.GoBuild{Dir: root, Out: built.dir,
			Packages: append([]string{"./deploy/local/stack"}, packages()...)})
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.dir
}

// freeBlock returns the first of n consecutive ports of 127.0.0.1 that were free a moment ago,
// below Linux's ephemeral range and the port blocks rayhead.sh gives heads (21000 and up).
func freeBlock(t *testing.T, n int) int {
	t.Helper()
	for range 100 {
		base := 10000 + rand.IntN(10000)
		var held []net.Listener
		for i := range n {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+i))
			if err != nil {
				break
			}
			held = append(held, l)
		}
		for _, l := range held {
			_ = l.Close()
		}
		if len(held) == n {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}

// stackProcess is a running launcher process.
type stackProcess struct {
	proc     *launcher.Process
	out      *testenv.Buffer
	basePort int
}

// startLauncher runs the launcher at bin with the test's environment stripped of every setting
// the stack reads, plus env, and stops it when the test ends if the test did not.
func startLauncher(t *testing.T, bin, root string, env map[string]string, args ...string) *stackProcess {
	t.Helper()
	l := &stackProcess{out: &testenv.Buffer{}, basePort: freeBlock(t, len(programs))}
	ours := append(config.Variables(), "STACK_BASE_PORT", "STACK_BIN_DIR",
		"RAY_HEAD_PORT", "RAY_DASHBOARD_PORT", "RAY_HEAD_TEMP_DIR", "RAY_PORT_BASE", "RUN_RAY_CLUSTERS", "RUN_RUNNER_ARGS")
	environ := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); !slices.Contains(ours, k) {
			environ[k] = v
		}
	}
	maps.Copy(environ, env)
	var err error
	l.proc, err = launcher.Start(launcher.Command{Path: bin, Args: append([]string{"-root", root, "-base-port", strconv.Itoa(l.basePort)}, args...),
		Env: launcher.Env(nil, environ), Stdout: l.out, Stderr: l.out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !l.proc.Exited() {
			l.interrupt(time.Minute)
		}
		if t.Failed() {
			t.Logf("launcher output:\n%s", l.out.String())
		}
	})
	return l
}

// url is the URL of the program called name.
func (l *stackProcess) url(name string) string {
	i := slices.IndexFunc(programs, func(p program) bool { return p.name == name })
	return programs[i].url(l.basePort)
}

// waitUp waits for the table the launcher prints once every function is ready.
func (l *stackProcess) waitUp(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for !strings.Contains(l.out.String(), "Ctrl-C stops everything.") {
		select {
		case <-l.proc.Done():
			t.Fatalf("the launcher exited before the stack was up: %v", l.proc.Wait())
		case <-deadline:
			t.Fatalf("the stack was not up within %s", within)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// interrupt sends SIGINT, as Ctrl-C does, and returns the exit status and how long the stop took;
// a launcher still running after within is killed and reported as -1.
func (l *stackProcess) interrupt(within time.Duration) (int, time.Duration) {
	start := time.Now()
	_ = l.proc.Signal(syscall.SIGINT)
	select {
	case <-l.proc.Done():
	case <-time.After(within):
		l.proc.Stop(0)
		return -1, time.Since(start)
	}
	return l.exitCode(), time.Since(start)
}

// exitCode is the launcher's exit status, once it has exited.
func (l *stackProcess) exitCode() int {
	var exit *exec.ExitError
	if err := l.proc.Wait(); errors.As(err, &exit) {
		return exit.ExitCode()
	}
	return 0
}

// lines returns the lines a program of the stack wrote to b, without their prefix.
func lines(b *testenv.Buffer, name string) []string {
	prefix := fmt.Sprintf("%s | ", padded(name))
	var out []string
	for _, line := range strings.Split(b.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			out = append(out, rest)
		}
	}
	return out
}
