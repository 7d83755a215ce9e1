package main

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

// The local Redis of REDIS_MODE=sentinel and =cluster: Debian's redis-server processes on
// 127.0.0.1, configured as docs/state.md asks of a deployment (AOF everysec, noeviction), their
// data and logs in one temporary directory removed when they stop.
const (
	// sentinelMaster is the group's name (master_name= in its URL).
	sentinelMaster = "rxlocal"
	// sentinelReplicas and sentinelCount are the group's shape: a failover needs a quorum of 2.
	sentinelReplicas, sentinelCount = 2, 3
	// clusterPrimaries is the fewest redis-cli creates a cluster with; each gets one replica.
	clusterPrimaries = 3
	// redisSettleTimeout bounds the wait for the replicas to sync and the sentinels or the
	// cluster's gossip to converge: a few seconds on an idle machine.
	redisSettleTimeout = time.Minute
	// redisStopGrace lets a server finish its AOF write on SIGTERM.
	redisStopGrace = 5 * time.Second
	// launchTries is how many free ports a server is tried on: one free a moment ago may be taken
	// before the server binds it.
	launchTries = 5
)

// redisGroup is the redis-server processes of one local Sentinel group or Cluster.
type redisGroup struct {
	s   *stack
	dir string
	bin string
}

// newRedisGroup finds redis-server and makes the group's directory, removed when the stack stops
// (after the servers: stops run newest first).
func (s *stack) newRedisGroup(mode string) (*redisGroup, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("REDIS_MODE=%s without REDIS_URL starts local redis-server processes: %w (apt-get install redis-server)", mode, err)
	}
	dir, err := os.MkdirTemp("", "rxstack-redis-")
	if err != nil {
		return nil, err
	}
	s.onStop("redis "+mode+" data", func() { _ = os.RemoveAll(dir) })
	return &redisGroup{s: s, dir: dir, bin: bin}, nil
}

// server starts one redis-server named name (its directory and log under the group's), the
// config file conf first when not empty, and returns its address once it answers PING.
func (g *redisGroup) server(name, conf string, args func(port int) []string) (string, error) {
	dir := filepath.Join(g.dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	var last error
	for range launchTries {
		port, err := testenv.LoopbackPort()
		if err != nil {
			return "", err
		}
		var argv []string
		if conf != "" {
			argv = append(argv, conf)
		}
		argv = append(append(argv, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--protected-mode", "no",
			"--dir", dir, "--logfile", "redis.log", "--loglevel", "warning", "--save", ""), args(port)...)
		proc, err := launcher.Start(launcher.Command{Path: g.bin, Args: argv, Group: true, Name: "redis " + name})
		if err != nil {
			return "", err
		}
		g.s.onStop("redis "+name, func() { proc.Stop(redisStopGrace) })
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if last = waitServer(proc, addr); last == nil {
			return addr, nil
		}
		proc.Stop(0)
		last = fmt.Errorf("redis %s on %s: %w (log: %s)", name, addr, last, filepath.Join(dir, "redis.log"))
	}
	return "", last
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
func dataArgs(extra ...string) func(int) []string {
	return func(int) []string {
		return append([]string{"--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction"}, extra...)
	}
}

// settle polls check until it passes or redisSettleTimeout ends.
func settle(ctx context.Context, what string, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, redisSettleTimeout)
	defer cancel()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not settled within %s: %w", what, redisSettleTimeout, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
