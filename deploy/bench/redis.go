package main

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/rayexecutor/functions/internal/testenv"
)

// redisServer is the redis-server the functions talk to during the bench.
type redisServer struct {
	addr string
	cmd  *exec.Cmd
}

// startRedis runs redis-server on a free loopback port with persistence off (no AOF, no RDB
// snapshots: the bench measures the functions, not fsync), noeviction as in a deployment, and
// its log in dir.
func startRedis(dir string) (*redisServer, error) {
	port, err := testenv.LoopbackPort()
	if err != nil {
		return nil, err
	}
	r := &redisServer{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--protected-mode", "no", "--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction",
		"--dir", dir, "--logfile", "redis.log", "--loglevel", "warning")
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server (is it installed?): %w", err)
	}
	if err := testenv.WaitRedis(r.addr, 10*time.Second); err != nil {
		r.stop()
		return nil, fmt.Errorf("redis-server on %s: %w", r.addr, err)
	}
	return r, nil
}

func (r *redisServer) url() string { return "redis://" + r.addr }

func (r *redisServer) stop() {
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	_ = r.cmd.Wait()
}
