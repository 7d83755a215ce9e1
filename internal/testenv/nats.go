package testenv

import (
	"context"
	"errors"
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
	Addr   string
	Dir    string
	port   int
	args   []string
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has exited
	output *Buffer
	// health is the monitoring endpoint that answers 200 once JetStream is up, not merely the port.
	health string
}

// StartNATS starts nats-server with JetStream on a free port, its store in a temporary directory;
// extra arguments (such as "-c", "limits.conf") are passed on. It is killed when the test ends.
// A port taken between its choice and the bind makes the server exit: then other ports are tried.
func StartNATS(t testing.TB, extra ...string) *NATS {
	t.Helper()
	bin := Require(t, "nats-server")
	n := &NATS{Dir: t.TempDir()}
	t.Cleanup(func() { n.kill() })
	var err error
	for range serverPorts {
		n.port = FreePort(t)
		n.Addr = hostPort(n.port)
		monitor := FreePort(t)
		n.health = fmt.Sprintf("http://%s/healthz", hostPort(monitor))
		n.args = append([]string{"-a", "127.0.0.1", "-p", strconv.Itoa(n.port), "-m", strconv.Itoa(monitor),
			"-js", "-sd", n.Dir}, extra...)
		if err = n.launch(bin); err == nil || !errors.Is(err, errServerExited) {
			break
		}
	}
	if err != nil {
		t.Fatalf("nats-server: %v", err)
	}
	return n
}

// URL is the nats:// URL of the server.
func (n *NATS) URL() string { return "nats://" + n.Addr }

// launch starts the server and waits until its JetStream is healthy, or it exits, or 15 s pass.
func (n *NATS) launch(bin string) error {
	n.output = &Buffer{}
	n.cmd = exec.Command(bin, n.args...)
	n.cmd.Stdout, n.cmd.Stderr = n.output, n.output
	if err := n.cmd.Start(); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	exited, cmd := make(chan struct{}), n.cmd
	n.exited = exited
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	go func() {
		select {
		case <-exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := waitHealthy(ctx, n.health); err != nil {
		select {
		case <-exited:
			n.cmd = nil
			return fmt.Errorf("%w on %s: %s", errServerExited, n.Addr, lastLine(n.output.String()))
		default:
		}
		n.kill()
		return fmt.Errorf("on %s: %w", n.Addr, err)
	}
	return nil
}

// Stop shuts the server down (SIGTERM, so it flushes its store as an orderly outage would) and
// waits for it to exit; clients see their connection drop and the port refuse.
func (n *NATS) Stop() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.exited
	}
	n.cmd = nil
}

// Restart starts the server again on the same port and store directory after Stop.
func (n *NATS) Restart(t testing.TB) {
	t.Helper()
	if err := n.launch(Require(t, "nats-server")); err != nil {
		t.Fatalf("nats-server restart: %v", err)
	}
}

func (n *NATS) kill() {
	if n.cmd != nil && n.cmd.Process != nil {
		_ = n.cmd.Process.Kill()
		<-n.exited
		n.cmd = nil
	}
}

// waitHealthy polls the monitoring endpoint until it answers 200 or ctx ends.
func waitHealthy(ctx context.Context, url string) error {
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
