// Package localredis starts a Redis Sentinel group or a Redis Cluster of redis-server processes on
// 127.0.0.1 for programs (`make run`, the bench), configured as docs/state.md asks of a deployment:
// AOF everysec, noeviction, and on the Sentinel primary min-replicas-to-write 1. Tests use
// internal/testenv's starters, which tie the servers to a test.
package localredis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rayexecutor/functions/internal/launcher"
	"github.com/rayexecutor/functions/internal/testenv"
)

const (
	// settleTimeout bounds the wait for the replicas to sync and the sentinels or the cluster's
	// gossip to converge: a few seconds on an idle machine.
	settleTimeout = time.Minute
	// stopGrace lets a server finish its AOF write on SIGTERM.
	stopGrace = 5 * time.Second
	// launchTries is how many free ports a server is tried on: one free a moment ago may be taken
	// before the server binds it.
	launchTries = 5
)

// Group is the redis-server processes of one Sentinel group or Cluster.
type Group struct {
	// URL is the group in go-redis's URL form for its shape (ParseFailoverURL, ParseClusterURL).
	URL   string
	dir   string
	bin   string
	procs []*launcher.Process
	// primary is the process of the Sentinel group's first primary (nil for a Cluster).
	primary *launcher.Process
}

// newGroup finds redis-server and makes the group's directory.
func newGroup(shape string) (*Group, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("a local Redis %s runs redis-server processes: %w (apt-get install redis-server)", shape, err)
	}
	dir, err := os.MkdirTemp("", "rxredis-"+shape+"-")
	if err != nil {
		return nil, err
	}
	return &Group{dir: dir, bin: bin}, nil
}

// Stop stops every server (SIGTERM, then SIGKILL after a grace) and removes their data.
func (g *Group) Stop() {
	for i := len(g.procs) - 1; i >= 0; i-- {
		g.procs[i].Stop(stopGrace)
	}
	_ = os.RemoveAll(g.dir)
}

// PrimaryPID is the process id of the Sentinel group's primary as started (0 for a Cluster).
func (g *Group) PrimaryPID() int {
	if g.primary == nil {
		return 0
	}
	return g.primary.Pid()
}

// server starts one redis-server named name (its directory and log under the group's), the
// config file conf first when not empty, and returns its address once it answers PING.
func (g *Group) server(name, conf string, args func() []string) (string, *launcher.Process, error) {
	dir := filepath.Join(g.dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, err
	}
	var last error
	for range launchTries {
		port, err := testenv.LoopbackPort()
		if err != nil {
			return "", nil, err
		}
		var argv []string
		if conf != "" {
			argv = append(argv, conf)
		}
		argv = append(append(argv, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--protected-mode", "no",
			"--dir", dir, "--logfile", "redis.log", "--loglevel", "warning", "--save", ""), args()...)
		proc, err := launcher.Start(launcher.Command{Path: g.bin, Args: argv, Group: true, Name: "redis " + name})
		if err != nil {
			return "", nil, err
		}
		g.procs = append(g.procs, proc)
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if last = waitServer(proc, addr); last == nil {
			return addr, proc, nil
		}
		proc.Stop(0)
		last = fmt.Errorf("redis %s on %s: %w (log: %s)", name, addr, last, filepath.Join(dir, "redis.log"))
	}
	return "", nil, last
}

// waitServer waits until the server at addr answers PING, or it exits.
func waitServer(proc *launcher.Process, addr string) error {
	ready := make(chan error, 1)
	go func() { ready <- testenv.WaitRedis(addr, 10*time.Second) }()
	select {
	case err := <-ready:
		return err
	case <-proc.Done():
		return errors.New("exited at start (port taken?)")
	}
}

// dataArgs are a data node's settings: persistence as a deployment has it, and writes refused
// rather than keys evicted when memory runs out.
func dataArgs(extra ...string) []string {
	return append([]string{"--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction"}, extra...)
}

// settle polls check until it passes or settleTimeout ends.
func settle(ctx context.Context, what string, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not settled within %s: %w", what, settleTimeout, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// started returns g, or stops what it started and returns err.
func (g *Group) started(err error) (*Group, error) {
	if err != nil {
		g.Stop()
		return nil, err
	}
	return g, nil
}
