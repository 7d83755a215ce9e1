package functest

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/launcher"
	"github.com/rayexecutor/functions/internal/testenv"
)

// Process is a running function binary.
type Process struct {
	URL  string
	proc *launcher.Process
	log  *testenv.Buffer
}

// Start runs bin with env (and nothing else of the test's environment but PATH and HOME), listening
// on a free port, and waits until it reports ready. It is stopped with SIGTERM when the test ends.
func Start(t testing.TB, bin string, env map[string]string) *Process {
	t.Helper()
	addr := freeAddr(t)
	p := &Process{URL: "http://" + addr, log: &testenv.Buffer{}}
	proc, err := launcher.Start(command(bin, env, addr, p.log))
	if err != nil {
		t.Fatal(err)
	}
	p.proc = proc
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("function log:\n%s", p.Logs())
		}
	})
	if err := proc.WaitReady(t.Context(), p.URL+launcher.ReadinessPath, 10*time.Second, 10*time.Millisecond); err != nil {
		t.Fatalf("%s never became ready: %v\n%s", bin, err, p.Logs())
	}
	return p
}

// Exit is how a process that was expected to stop ended.
type Exit struct {
	Err  error
	Log  string
	Took time.Duration
}

// Run runs bin to its end (it is expected to exit) within deadline, after which it is killed.
func Run(t testing.TB, bin string, env map[string]string, deadline time.Duration) Exit {
	t.Helper()
	log := &testenv.Buffer{}
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	start := time.Now()
	err := launcher.Run(ctx, command(bin, env, freeAddr(t), log), 0)
	return Exit{Err: err, Log: log.String(), Took: time.Since(start)}
}

func command(bin string, env map[string]string, addr string, log *testenv.Buffer) launcher.Command {
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LISTEN_ADDRESS=" + addr}
	return launcher.Command{Path: bin, Env: launcher.Env(base, env), Stdout: log, Stderr: log}
}

func freeAddr(t testing.TB) string { return "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)) }

// Stop ends the process gracefully (SIGTERM, as Kubernetes does), killing it after 5 s.
func (p *Process) Stop() { p.proc.Stop(5 * time.Second) }

// Logs is what the process wrote so far.
func (p *Process) Logs() string { return p.log.String() }
