package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Redis is a redis-server process owned by one test.
type Redis struct {
	Addr   string
	Dir    string
	port   int
	conf   string // a config file given before the arguments (a sentinel's), or ""
	extra  []string
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has exited
	output *Buffer
}

// serverPorts is how many free ports StartRedis and StartNATS try: a port free a moment ago may be
// taken before the server binds it (parallel tests, Ray's workers), and then the server exits.
const serverPorts = 5

// errServerExited is a server that exited while it was awaited.
var errServerExited = errors.New("the server exited")

// StartRedis starts redis-server on a free port in a temporary directory; extra arguments (such as
// "--appendonly", "yes") are passed on. It is killed when the test ends.
func StartRedis(t testing.TB, extra ...string) *Redis {
	t.Helper()
	return startRedis(t, "", func() []string { return extra })
}

// startRedis is StartRedis with a config file (conf, "" for none) and extra arguments chosen per
// try (they may name more ports, such as a cluster's bus port).
func startRedis(t testing.TB, conf string, extra func() []string) *Redis {
	t.Helper()
	bin := Require(t, "redis-server")
	r := &Redis{Dir: t.TempDir(), conf: conf}
	t.Cleanup(func() { r.Kill() })
	var err error
	for range serverPorts {
		r.port = FreePort(t)
		r.Addr = hostPort(r.port)
		r.extra = extra()
		if err = r.launch(bin); err == nil || !errors.Is(err, errServerExited) {
			break
		}
	}
	if err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	return r
}

// launch starts the server on r.port and waits until it answers PING, or exits, or 10 s pass.
func (r *Redis) launch(bin string) error {
	var args []string
	if r.conf != "" {
		args = append(args, r.conf)
	}
	args = append(append(args, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", r.Dir, "--protected-mode", "no"), r.extra...)
	r.output = &Buffer{}
	r.cmd = exec.Command(bin, args...)
	r.cmd.Stdout, r.cmd.Stderr = r.output, r.output
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	exited, cmd := make(chan struct{}), r.cmd
	r.exited = exited
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := ping(r.Addr)
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			r.cmd = nil
			return fmt.Errorf("%w on %s: %s", errServerExited, r.Addr, lastLine(r.output.String()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.Kill()
			return fmt.Errorf("on %s not ready: %w", r.Addr, err)
		}
	}
}

// Kill stops the server at once (SIGKILL), as a crash would.
func (r *Redis) Kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Signal(syscall.SIGKILL)
		<-r.exited
		r.cmd = nil
	}
}

// Pause stops the server's process (SIGSTOP) without closing its connections: a replica paused
// keeps its link up but confirms nothing, as a stalled machine would.
func (r *Redis) Pause() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Signal(syscall.SIGSTOP)
	}
}

// Resume continues a paused server (SIGCONT).
func (r *Redis) Resume() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Signal(syscall.SIGCONT)
	}
}

// Restart starts the server again on the same port and directory after Kill.
func (r *Redis) Restart(t testing.TB) {
	t.Helper()
	if err := r.launch(Require(t, "redis-server")); err != nil {
		t.Fatalf("redis-server restart: %v", err)
	}
}

// lastLine is the last non-empty line of a server's output, for an error.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

// URL is the redis:// URL of the server.
func (r *Redis) URL() string { return "redis://" + r.Addr }

// WaitRedis waits until the Redis server at addr answers PING, at most within. It takes no
// testing.TB, so programs such as the bench use it too.
func WaitRedis(addr string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		if err := ping(addr); err == nil {
			return nil
		} else if ctx.Err() != nil {
			return fmt.Errorf("not ready: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}
