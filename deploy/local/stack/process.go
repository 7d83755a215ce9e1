package main

import (
	"context"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// child is a process the launcher started in a process group of its own. The group is what makes
// shutdown complete: a signal to it reaches whatever the child spawned, and a Ctrl-C at the
// terminal reaches only the launcher, which then stops every child in order instead of leaving
// them to die half-way at once.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startChild runs path with env, its output forwarded behind name. exited receives the child when
// it ends, however it ends; it must have room for every child, since nobody reads it once the
// launcher is shutting down.
func startChild(name, path string, env []string, out *output, exited chan<- *child) (*child, error) {
	c := &child{name: name, cmd: exec.Command(path), done: make(chan struct{})}
	stdout, stderr := out.writer(name, os.Stdout), out.writer(name, os.Stderr)
	c.cmd.Env, c.cmd.Stdout, c.cmd.Stderr = env, stdout, stderr
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A grandchild that keeps the output pipes open must not hold Wait forever.
	c.cmd.WaitDelay = 2 * time.Second
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		c.err = c.cmd.Wait()
		stdout.flush()
		stderr.flush()
		close(c.done)
		exited <- c
	}()
	return c, nil
}

// stop sends SIGTERM to the child's group (func-go drains its requests on it), waits up to grace,
// then SIGKILLs whatever is left of the group: the child if it is still there, and anything it
// spawned and left behind.
func (c *child) stop(grace time.Duration) {
	pgid := c.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-c.done
}

// groupCommand is a command the launcher runs to its end (a build, the Ray head script) in a
// process group of its own, so that cancelling ctx stops all of it, not only its first process.
func groupCommand(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}
