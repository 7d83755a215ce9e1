package main

import (
	"os"
	"time"

	"github.com/rayexecutor/functions/internal/launcher"
)

// Readiness of the functions: they are ready within milliseconds of starting (docs/performance.md),
// so the timeout only catches a broken start.
const (
	readyTimeout = 30 * time.Second
	readyPoll    = 50 * time.Millisecond
)

// child is a process the launcher started in a process group of its own. The group is what makes
// shutdown complete: a signal to it reaches whatever the child spawned, and a Ctrl-C at the
// terminal reaches only the launcher, which then stops every child in order instead of leaving
// them to die half-way at once.
type child struct {
	name string
	path string
	proc *launcher.Process
	// done is closed once the child exited and the end of its output was forwarded.
	done chan struct{}
}

// startChild runs path with env, its output forwarded behind name. exited receives the child when
// it ends, however it ends; it must have room for every child, since nobody reads it once the
// launcher is shutting down.
func startChild(name, path string, env []string, out *output, exited chan<- *child) (*child, error) {
	stdout, stderr := out.writer(name, os.Stdout), out.writer(name, os.Stderr)
	proc, err := launcher.Start(launcher.Command{Path: path, Env: env, Stdout: stdout, Stderr: stderr, Group: true, Name: name})
	if err != nil {
		return nil, err
	}
	c := &child{name: name, path: path, proc: proc, done: make(chan struct{})}
	go func() {
		<-proc.Done()
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
	c.proc.Stop(grace)
	<-c.done
}
