package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rayexecutor/functions/internal/launcher"
	"github.com/rayexecutor/functions/internal/testenv"
)

// process is one running function binary.
type process struct {
	name  string
	url   string
	proc  *launcher.Process
	ready time.Duration
}

// readinessPoll is the pause between readiness probes while a function starts: short enough to
// resolve a start of a few milliseconds, long enough not to steal the CPU the start needs.
const readinessPoll = 200 * time.Microsecond

// launch execs a function with env on a free port and waits for the first 200 of
// /health/readiness; ready is the time from exec to that answer. Its logs go through a pipe, as a
// container runtime reads them, so a busy disk never stalls a request behind a log line; the end
// of them is kept for error messages.
func launch(ctx context.Context, bin string, env map[string]string) (*process, error) {
	addr, err := loopbackAddr()
	if err != nil {
		return nil, err
	}
	return launchAt(ctx, bin, addr, env)
}

// loopbackAddr is a free host:port on 127.0.0.1.
func loopbackAddr() (string, error) {
	port, err := testenv.LoopbackPort()
	return "127.0.0.1:" + strconv.Itoa(port), err
}

// launchAt is launch on a given address, for a caller that must know a function's URL before it
// starts (another function's callback).
func launchAt(ctx context.Context, bin, addr string, env map[string]string) (*process, error) {
	log := &tail{}
	start := time.Now()
	proc, err := launcher.Start(launcher.Command{Path: bin, Env: launcher.Env([]string{"LISTEN_ADDRESS=" + addr}, env), Stdout: log, Stderr: log})
	if err != nil {
		return nil, err
	}
	p := &process{name: filepath.Base(bin), url: "http://" + addr, proc: proc}
	err = proc.WaitReady(ctx, p.url+launcher.ReadinessPath, 10*time.Second, readinessPoll)
	p.ready = time.Since(start)
	if err == nil {
		return p, nil
	}
	p.stop()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("%w:\n%s", err, log)
}

// stop ends the function as Kubernetes does (SIGTERM), killing it after 5 s.
func (p *process) stop() { p.proc.Stop(5 * time.Second) }

func (p *process) pid() int { return p.proc.Pid() }

// tail keeps the last tailBytes of what a function logged.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailBytes = 4096

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*tailBytes {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailBytes:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf[max(len(t.buf)-tailBytes, 0):])
}

// rssBytes is the resident set size of pid (VmRSS in /proc/<pid>/status).
func rssBytes(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, errors.New("no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// cpuTime is the CPU time pid has used so far, user and system, all threads.
func cpuTime(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name in parentheses may hold spaces; the fields after it are fixed.
	_, rest, ok := strings.Cut(string(raw), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}
