package functest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/rayexecutor/functions/shared/testenv"
)

// Process is a running function binary.
type Process struct {
	URL    string
	cmd    *exec.Cmd
	stderr *testenv.Buffer
	done   chan struct{}
	err    error
}

// Start runs bin with env (and nothing else of the test's environment but PATH and HOME), listening
// on a free port, and waits until it reports ready. It is stopped with SIGTERM when the test ends.
func Start(t testing.TB, bin string, env map[string]string) *Process {
	t.Helper()
	port := testenv.FreePort(t)
	p := launch(bin, env, "127.0.0.1:"+strconv.Itoa(port))
	p.URL = "http://127.0.0.1:" + strconv.Itoa(port)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("function log:\n%s", p.Logs())
		}
	})
	if err := p.waitReady(10 * time.Second); err != nil {
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

// Run runs bin to its end (it is expected to exit) within deadline.
func Run(t testing.TB, bin string, env map[string]string, deadline time.Duration) Exit {
	t.Helper()
	p := launch(bin, env, "127.0.0.1:"+strconv.Itoa(testenv.FreePort(t)))
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.cmd.Path, p.cmd.Args[1:]...)
	cmd.Env, cmd.Stderr, cmd.Stdout = p.cmd.Env, p.stderr, p.stderr
	start := time.Now()
	err := cmd.Run()
	return Exit{Err: err, Log: p.Logs(), Took: time.Since(start)}
}

func launch(bin string, env map[string]string, addr string) *Process {
	p := &Process{stderr: &testenv.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LISTEN_ADDRESS=" + addr}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.stderr, p.stderr
	return p
}

func (p *Process) waitReady(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		select {
		case <-p.done:
			return fmt.Errorf("exited: %v", p.err)
		default:
		}
		res, err := http.Get(p.URL + "/health/readiness")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no 200 from /health/readiness within %s (last: %v)", within, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop ends the process gracefully (SIGTERM, as Kubernetes does), killing it after 5 s.
func (p *Process) Stop() {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Logs is what the process wrote so far.
func (p *Process) Logs() string { return p.stderr.String() }
