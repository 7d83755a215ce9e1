package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// NATS is a nats-server process with JetStream owned by one test.
type NATS struct {
	Addr string
	Dir  string
	port int
	args []string
	cmd  *exec.Cmd
	// health is the monitoring endpoint that answers 200 once JetStream is up, not merely the port.
	health string
}

// StartNATS starts nats-server with JetStream on a free port, its store in a temporary directory;
// extra arguments (such as "-c", "limits.conf") are passed on. It is killed when the test ends.
func StartNATS(t testing.TB, extra ...string) *NATS {
	t.Helper()
	bin := Require(t, "nats-server")
	n := &NATS{Dir: t.TempDir(), port: FreePort(t)}
	n.Addr = hostPort(n.port)
	monitor := FreePort(t)
	n.health = fmt.Sprintf("http://%s/healthz", hostPort(monitor))
	n.args = append([]string{"-a", "127.0.0.1", "-p", strconv.Itoa(n.port), "-m", strconv.Itoa(monitor),
		"-js", "-sd", n.Dir}, extra...)
	n.start(t, bin)
	t.Cleanup(func() { n.kill() })
	return n
}

// URL is the nats:// URL of the server.
func (n *NATS) URL() string { return "nats://" + n.Addr }

func (n *NATS) start(t testing.TB, bin string) {
	t.Helper()
	n.cmd = exec.Command(bin, n.args...)
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start nats-server: %v", err)
	}
	if err := waitHealthy(n.health, 15*time.Second); err != nil {
		n.kill()
		t.Fatalf("nats-server on %s: %v", n.Addr, err)
	}
}

// Stop shuts the server down (SIGTERM, so it flushes its store as an orderly outage would) and
// waits for it to exit; clients see their connection drop and the port refuse.
func (n *NATS) Stop() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		_ = n.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Kill()
		<-done
	}
	n.cmd = nil
}

// Restart starts the server again on the same port and store directory after Stop.
func (n *NATS) Restart(t testing.TB) {
	t.Helper()
	n.start(t, Require(t, "nats-server"))
}

func (n *NATS) kill() {
	if n.cmd != nil && n.cmd.Process != nil {
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
		n.cmd = nil
	}
}

func waitHealthy(url string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("healthz answered %s", resp.Status)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("not ready: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
