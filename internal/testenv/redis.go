package testenv

import (
	"bufio"
	"context"
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
	Addr string
	Dir  string
	port int
	args []string
	cmd  *exec.Cmd
}

// StartRedis starts redis-server on a free port in a temporary directory; extra arguments (such as
// "--appendonly", "yes") are passed on. It is killed when the test ends.
func StartRedis(t testing.TB, extra ...string) *Redis {
	t.Helper()
	bin := Require(t, "redis-server")
	r := &Redis{Dir: t.TempDir(), port: FreePort(t)}
	r.Addr = hostPort(r.port)
	r.args = append([]string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", r.Dir, "--protected-mode", "no"}, extra...)
	r.start(t, bin)
	t.Cleanup(func() { r.Kill() })
	return r
}

func (r *Redis) start(t testing.TB, bin string) {
	t.Helper()
	r.cmd = exec.Command(bin, r.args...)
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	if err := WaitRedis(r.Addr, 10*time.Second); err != nil {
		r.Kill()
		t.Fatalf("redis-server on %s: %v", r.Addr, err)
	}
}

// Kill stops the server at once (SIGKILL), as a crash would.
func (r *Redis) Kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Signal(syscall.SIGKILL)
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// Restart starts the server again on the same port and directory after Kill.
func (r *Redis) Restart(t testing.TB) {
	t.Helper()
	r.start(t, Require(t, "redis-server"))
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
