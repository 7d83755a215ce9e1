package testenv

import (
	"errors"
	"net"
	"strconv"
	"testing"
	"time"
)

// TestRedisOnATakenPortExitsFast: a server whose port was taken meanwhile is seen to exit at once
// (StartRedis then tries another port), not waited for until the readiness deadline.
func TestRedisOnATakenPortExitsFast(t *testing.T) {
	bin := Require(t, "redis-server")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := &Redis{Dir: t.TempDir(), port: l.Addr().(*net.TCPAddr).Port}
	r.Addr = hostPort(r.port)
	t.Cleanup(r.Kill)
	start := time.Now()
	err = r.launch(bin)
	if !errors.Is(err, errServerExited) {
		t.Fatalf("launch on a taken port: %v, want errServerExited", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the exit took %s to notice", took)
	}
}

// TestStartRedisKillRestart: a started server answers, is gone after Kill, and answers again on
// the same address after Restart.
func TestStartRedisKillRestart(t *testing.T) {
	r := StartRedis(t)
	if err := ping(r.Addr); err != nil {
		t.Fatalf("after start: %v", err)
	}
	r.Kill()
	if err := ping(r.Addr); err == nil {
		t.Fatal("answers after Kill")
	}
	r.Restart(t)
	if err := ping(r.Addr); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

// TestNATSOnATakenPortExits: nats-server on a taken port is seen to exit, not waited for until
// the health deadline.
func TestNATSOnATakenPortExits(t *testing.T) {
	bin := Require(t, "nats-server")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	n := &NATS{Dir: t.TempDir(), port: port, Addr: hostPort(port), health: "http://" + hostPort(FreePort(t)) + "/healthz"}
	n.args = []string{"-a", "127.0.0.1", "-p", strconv.Itoa(port), "-m", strconv.Itoa(FreePort(t)), "-js", "-sd", n.Dir}
	t.Cleanup(n.kill)
	start := time.Now()
	if err := n.launch(bin); !errors.Is(err, errServerExited) {
		t.Fatalf("launch on a taken port: %v, want errServerExited", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the exit took %s to notice", took)
	}
}
