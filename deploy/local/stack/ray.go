package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rayexecutor/functions/internal/launcher"
)

// rayScriptGrace is how long the script may take to stop after SIGTERM, when ctx ends first,
// before its whole group is killed.
const rayScriptGrace = 10 * time.Second

// rayStopTimeout bounds `rayhead.sh stop`, which gives the head's processes 5 s after SIGTERM and
// 10 s after SIGKILL.
const rayStopTimeout = time.Minute

// rayHead runs deploy/local/rayhead.sh, which owns the head's ports and temp dir (RAY_HEAD_PORT,
// RAY_DASHBOARD_PORT, RAY_HEAD_TEMP_DIR from the launcher's environment), so that `make run` and
// the script always agree on which head is which.
type rayHead struct {
	script string
	env    []string
	log    *lineWriter
}

func (s *stack) newRayHead(root string, environ []string) rayHead {
	// Ray runs a job's `python` from the PATH its head started with: it must be the venv's, which
	// has Ray. exec uses the last of duplicate variables, so appending overrides the user's PATH.
	path := filepath.Join(root, ".venv", "bin") + string(os.PathListSeparator) + lookup(environ, "PATH")
	return rayHead{
		script: filepath.Join(root, "deploy", "local", "rayhead.sh"),
		env:    append(environ[:len(environ):len(environ)], "PATH="+path),
		log:    s.out.writer("ray", os.Stderr),
	}
}

// startRay starts a local Ray head and returns its Jobs API address. A head already running in
// the same temp dir is used as it is and left running afterwards: the launcher stops only what it
// started.
func (s *stack) startRay(ctx context.Context, head rayHead, part string) (string, error) {
	_, err := head.run(ctx, "status")
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if err == nil {
		s.log.Info("using the Ray head that is already running; it stays up after the stack stops")
		return head.address(ctx, "address")
	}
	// Registered before the start: an interrupted start leaves a half-started head to stop.
	s.onStop(part, func() {
		ctx, cancel := context.WithTimeout(context.Background(), rayStopTimeout)
		defer cancel()
		out, err := head.run(ctx, "stop")
		if err != nil {
			s.log.Error("ray head not stopped", "error", err.Error())
			return
		}
		s.log.Info(out)
	})
	s.log.Info("starting a local Ray head (deploy/local/rayhead.sh); the first start takes a while")
	return head.address(ctx, "start")
}

// address runs start or address, which print the Jobs API address last.
func (h rayHead) address(ctx context.Context, command string) (string, error) {
	out, err := h.run(ctx, command)
	if err != nil {
		return "", err
	}
	lines := strings.Split(out, "\n")
	addr := lines[len(lines)-1]
	if !strings.HasPrefix(addr, "http://") {
		return "", fmt.Errorf("rayhead.sh %s printed no address", command)
	}
	return addr, nil
}

// run runs the script with one command and returns what it printed on stdout; its stderr goes to
// the launcher's behind "ray".
func (h rayHead) run(ctx context.Context, command string) (string, error) {
	var stdout bytes.Buffer
	err := launcher.Run(ctx, launcher.Command{Path: h.script, Args: []string{command}, Env: h.env,
		Stdout: &stdout, Stderr: h.log, Group: true}, rayScriptGrace)
	h.log.flush()
	if err != nil {
		return "", fmt.Errorf("rayhead.sh %s: %w", command, err)
	}
	return strings.TrimSpace(stdout.String()), nil
}

// lookup is the value of name in an environment list ("" when absent); like exec, the last
// duplicate wins.
func lookup(environ []string, name string) string {
	v := ""
	for _, kv := range environ {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v = val
		}
	}
	return v
}
