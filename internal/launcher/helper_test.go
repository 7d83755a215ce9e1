package launcher

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/testenv"
)

// helperVar makes the test binary, started by a test, play one of the helper's parts instead of
// running the tests.
const helperVar = "LAUNCHER_TEST_HELPER"

// helper plays part and exits.
func helper(part string) {
	switch part {
	case "serve":
		// Readiness answers 503 until READY_AFTER has passed ("never": always), as a function
		// that is listening but not ready yet.
		after, err := time.ParseDuration(os.Getenv("READY_AFTER"))
		if err != nil {
			after = time.Duration(1<<63 - 1)
		}
		start := time.Now()
		http.HandleFunc(ReadinessPath, func(w http.ResponseWriter, _ *http.Request) {
			if time.Since(start) < after {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		})
		fmt.Println("serving")
		fmt.Fprintln(os.Stderr, http.ListenAndServe(os.Getenv("LISTEN_ADDRESS"), nil))
	case "exit":
		fmt.Fprintln(os.Stderr, "bad configuration")
		os.Exit(3)
	case "env":
		fmt.Print(strings.Join(os.Environ(), "\n"))
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ignoring SIGTERM")
		time.Sleep(time.Hour)
	case "spawn":
		// A grandchild that ignores SIGTERM; its pid is printed once it does.
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), helperVar+"=ignore-term")
		out, err := cmd.StdoutPipe()
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		_, _ = bufio.NewReader(out).ReadString('\n')
		fmt.Println(cmd.Process.Pid)
		time.Sleep(time.Hour)
	default:
		fmt.Fprintln(os.Stderr, "unknown part", part)
		os.Exit(2)
	}
	os.Exit(0)
}

// signalOf is the signal that ended a process, by its Wait error; 0 when none did.
func signalOf(err error) syscall.Signal {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return ws.Signal()
		}
	}
	return 0
}

func waitOutput(t *testing.T, out *testenv.Buffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the output within 10s: %q", want, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitPid waits for the spawn part to print its grandchild's pid.
func waitPid(t *testing.T, out *testenv.Buffer) int {
	t.Helper()
	waitOutput(t, out, "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("no pid in %q", out)
	}
	return pid
}

func pgid(t *testing.T, pid int) int {
	t.Helper()
	id, err := syscall.Getpgid(pid)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// alive reports whether pid runs: a zombie has ended, it only waits for its parent to reap it.
func alive(pid int) bool {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(raw), ") ")
	return !strings.HasPrefix(rest, "Z")
}
