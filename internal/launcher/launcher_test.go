package launcher

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/testenv"
)

func TestMain(m *testing.M) {
	if part := os.Getenv(helperVar); part != "" {
		helper(part)
	}
	os.Exit(m.Run())
}

// start starts the test binary as the helper playing part, with env on top; it is killed when
// the test ends.
func start(t *testing.T, part string, group bool, env ...string) (*Process, *testenv.Buffer) {
	t.Helper()
	out := &testenv.Buffer{}
	p, err := Start(Command{Path: os.Args[0], Env: append([]string{helperVar + "=" + part}, env...),
		Stdout: out, Stderr: out, Group: group, Name: part})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(0) })
	return p, out
}

// serve starts the serve part on a free port and returns its readiness URL.
func serve(t *testing.T, readyAfter string) (*Process, *testenv.Buffer, string) {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	p, out := start(t, "serve", false, "LISTEN_ADDRESS="+addr, "READY_AFTER="+readyAfter)
	return p, out, "http://" + addr + ReadinessPath
}

func TestWaitReadyWaitsForA200AndStopEndsTheProcess(t *testing.T) {
	t.Parallel()
	began := time.Now() // before the exec, so the helper's 300ms end after began+300ms
	p, out, url := serve(t, "300ms")
	if err := p.WaitReady(t.Context(), url, 10*time.Second, 10*time.Millisecond); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if took := time.Since(began); took < 300*time.Millisecond {
		t.Errorf("ready after %s: WaitReady took the 503s before 300ms for ready", took)
	}
	if !strings.Contains(out.String(), "serving") {
		t.Errorf("the output did not reach the writer: %q", out)
	}
	began = time.Now()
	p.Stop(10 * time.Second)
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("a process that ends on SIGTERM took %s to stop", took)
	}
	if sig := signalOf(p.Wait()); sig != syscall.SIGTERM {
		t.Errorf("the process ended by %v, want SIGTERM", sig)
	}
	select {
	case <-p.Done():
	default:
		t.Error("Done is open after Stop returned")
	}
	if !p.Exited() {
		t.Error("Exited is false after Stop returned")
	}
}

func TestWaitReadyReportsAnEarlyExitAtOnce(t *testing.T) {
	t.Parallel()
	p, out := start(t, "exit", false)
	began := time.Now()
	err := p.WaitReady(t.Context(), "http://127.0.0.1:9"+ReadinessPath, 30*time.Second, 10*time.Millisecond)
	if !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "exit exited before it was ready: exit status 3") {
		t.Fatalf("err = %v, want the name, ErrExited and the exit status", err)
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("the exit was reported after %s, not at once", took)
	}
	// The output is whole by then, for the caller to show with the error.
	if !strings.Contains(out.String(), "bad configuration") {
		t.Errorf("output %q lacks what the process said before it exited", out)
	}
}

func TestWaitReadyGivesUpAfterWithin(t *testing.T) {
	t.Parallel()
	p, _, url := serve(t, "never")
	err := p.WaitReady(t.Context(), url, 500*time.Millisecond, 10*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "within 500ms") || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v, want a timeout naming the last answer, 503", err)
	}
	if p.Exited() {
		t.Error("WaitReady stopped the process; stopping is the caller's")
	}

	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	if err := p.WaitReady(ctx, url, time.Minute, 10*time.Millisecond); !errors.Is(err, context.Canceled) {
		t.Errorf("after the caller's cancel: err = %v, want context.Canceled", err)
	}
}

func TestStopKillsWhatIgnoresSIGTERMAfterTheGrace(t *testing.T) {
	t.Parallel()
	p, out := start(t, "ignore-term", false)
	waitOutput(t, out, "ignoring SIGTERM")
	const grace = 300 * time.Millisecond
	began := time.Now()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { p.Stop(grace) })
	}
	wg.Wait()
	if took := time.Since(began); took < grace {
		t.Errorf("stopped after %s, before the grace of %s", took, grace)
	}
	if sig := signalOf(p.Wait()); sig != syscall.SIGKILL {
		t.Errorf("the process ended by %v, want SIGKILL", sig)
	}
	p.Stop(grace) // once more, after the end: returns at once
	if err := p.Signal(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after the end: %v, want os.ErrProcessDone", err)
	}
}

func TestStopOfAGroupKillsWhatTheProcessSpawned(t *testing.T) {
	t.Parallel()
	for _, group := range []bool{true, false} {
		t.Run("group="+strconv.FormatBool(group), func(t *testing.T) {
			t.Parallel()
			p, out := start(t, "spawn", group)
			grandchild := waitPid(t, out)
			t.Cleanup(func() { _ = syscall.Kill(grandchild, syscall.SIGKILL) })
			if group && p.Pid() != pgid(t, grandchild) {
				t.Fatalf("the grandchild is not in the group %d", p.Pid())
			}
			p.Stop(5 * time.Second)
			if sig := signalOf(p.Wait()); sig != syscall.SIGTERM {
				t.Errorf("the process ended by %v, want SIGTERM", sig)
			}
			deadline := time.Now().Add(5 * time.Second)
			for alive(grandchild) && group && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			// Outside a group the grandchild outlives the stop: the group is what reaches it.
			if alive(grandchild) == group {
				t.Errorf("group %v: grandchild %d alive after Stop: %v", group, grandchild, alive(grandchild))
			}
		})
	}
}
