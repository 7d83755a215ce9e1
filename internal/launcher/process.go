package launcher

import (
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Command is what to start.
type Command struct {
	Path string
	Args []string
	// Env is the whole environment of the process, KEY=VALUE as os/exec takes it (the last of
	// duplicate keys wins); nil inherits this process's environment.
	Env []string
	// Dir is the working directory; "" is this process's.
	Dir string
	// Stdout and Stderr receive the output; nil discards it. An *os.File is handed to the
	// process as it is, anything else is fed through a pipe.
	Stdout, Stderr io.Writer
	// Group starts the process in a process group of its own, so that signals reach whatever it
	// spawned too, and a Ctrl-C at the terminal reaches only the caller, which stops it in order.
	Group bool
	// Name names the process in errors; "" is the base name of Path.
	Name string
}

// outputDelay bounds how long Wait waits for the output after the process exited: a grandchild
// that keeps the output pipes open must not hold it forever.
const outputDelay = 2 * time.Second

// Process is a started process.
type Process struct {
	name  string
	group bool
	cmd   *exec.Cmd
	done  chan struct{}
	err   error
	stop  sync.Once
}

// Start starts c; the process is waited for in the background, so Done, Wait and Stop work at
// once.
func Start(c Command) (*Process, error) {
	name := c.Name
	if name == "" {
		name = filepath.Base(c.Path)
	}
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = c.Env, c.Dir, c.Stdout, c.Stderr
	cmd.WaitDelay = outputDelay
	if c.Group {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{name: name, group: c.Group, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id, also the process group id of a Group process.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited and its output has been written.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports, without waiting, whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits for the process to exit and returns how it ended, as exec.Cmd.Wait does: nil for
// exit status 0, an *exec.ExitError otherwise.
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// Signal sends sig to the process alone; Stop is what reaches a group.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Stop sends SIGTERM (func-go drains its requests on it), waits up to grace, then SIGKILLs what
// is left: the process if it still runs and, for a Group, whatever it spawned and left behind.
// It returns once the process has exited; further and concurrent calls wait for the first.
func (p *Process) Stop(grace time.Duration) {
	p.stop.Do(func() {
		p.signalAll(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
		}
		p.signalAll(syscall.SIGKILL)
	})
	<-p.done
}

// signalAll is Signal, but it reaches a group even after its leader exited, for the children it
// left behind: a group id is not reused while a process of the group lives.
func (p *Process) signalAll(sig syscall.Signal) {
	if p.group {
		_ = syscall.Kill(-p.Pid(), sig)
		return
	}
	_ = p.cmd.Process.Signal(sig)
}

// state says how the process ended, for errors: "exit status 1", "signal: killed".
func (p *Process) state() string {
	if p.cmd.ProcessState == nil {
		return fmt.Sprint(p.err)
	}
	return p.cmd.ProcessState.String()
}

// Env is base followed by vars as KEY=VALUE, sorted by key so the environment is the same on
// every start; the last of duplicate keys wins, so vars override base.
func Env(base []string, vars map[string]string) []string {
	env := append(make([]string, 0, len(base)+len(vars)), base...)
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, k+"="+vars[k])
	}
	return env
}
