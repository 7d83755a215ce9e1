// Package testenv starts the real servers that tests need (redis-server, nats-server) on 127.0.0.1
// and stops them with the test. Under CI=true a missing server binary fails the test instead of
// skipping it: a suite that skips what it cannot reach is not a passing suite.
package testenv

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// Require returns the path of a server binary, failing the test under CI=true when it is missing
// and skipping it elsewhere.
func Require(t testing.TB, binary string) string {
	t.Helper()
	path, err := exec.LookPath(binary)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true but was not found: %v", binary, err)
	}
	t.Skipf("%s not installed; skipping (CI=true makes this a failure)", binary)
	return ""
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := LoopbackPort()
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	return port
}

// LoopbackPort is a loopback TCP port that was free a moment ago.
func LoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
