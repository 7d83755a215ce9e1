//go:build faults

package faults

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rayexecutor/functions/shared/testenv"
	"github.com/rayexecutor/functions/shared/transport"
)

// moduleRoot is the repository root: go test runs in deploy/faults.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s: %v", root, err)
	}
	return root
}

// buildFunctions builds every function binary in one go build and returns their directory.
func buildFunctions(t *testing.T, root string) string {
	t.Helper()
	dir := t.TempDir()
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	for _, f := range transport.Functions {
		args = append(args, "./functions/"+string(f))
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

// function is one running function binary; its log goes to a file, shown when the test fails.
type function struct {
	name string
	URL  string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startFunction runs bin on addr with env (and of the test's environment only PATH and HOME, so
// nothing of the caller's shell leaks into the configuration) and waits until it is ready.
func startFunction(t *testing.T, bin, addr, logDir string, env map[string]string) *function {
	t.Helper()
	f := &function{name: filepath.Base(bin), URL: "http://" + addr, done: make(chan struct{}),
		log: filepath.Join(logDir, filepath.Base(bin)+".log")}
	out, err := os.Create(f.log)
	if err != nil {
		t.Fatal(err)
	}
	f.cmd = exec.Command(bin)
	f.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LISTEN_ADDRESS=" + addr}
	for k, v := range env {
		f.cmd.Env = append(f.cmd.Env, k+"="+v)
	}
	f.cmd.Stdout, f.cmd.Stderr = out, out
	if err := f.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", f.name, err)
	}
	go func() {
		_ = f.cmd.Wait()
		out.Close()
		close(f.done)
	}()
	t.Cleanup(func() {
		f.stop()
		if t.Failed() {
			t.Logf("last warnings of %s:\n%s", f.name, f.warnings(20))
		}
	})
	if err := f.waitReady(20 * time.Second); err != nil {
		t.Fatalf("%s: %v\n%s", f.name, err, f.warnings(20))
	}
	return f
}

func (f *function) waitReady(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		select {
		case <-f.done:
			return fmt.Errorf("exited before it was ready")
		default:
		}
		res, err := http.Get(f.URL + "/health/readiness")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %s (last: %v)", within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exited reports whether the process ended; a function must survive every fault.
func (f *function) exited() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

func (f *function) stop() {
	if f.exited() {
		return
	}
	_ = f.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-f.done:
	case <-time.After(10 * time.Second):
		_ = f.cmd.Process.Kill()
		<-f.done
	}
}

// warnings returns the last n lines of the function's log above info level.
func (f *function) warnings(n int) string {
	file, err := os.Open(f.log)
	if err != nil {
		return err.Error()
	}
	defer file.Close()
	var lines []string
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct{ Level string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && (strings.EqualFold(line.Level, "info") || strings.EqualFold(line.Level, "debug")) {
			continue
		}
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// freeAddr is a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	return "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
}
