package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// driver is deploy/bench/dispatch_driver.py in one mode (actors or tasks): a long-lived Ray driver
// on the head, asked over stdin for deliberations and answering their times on stdout. It is
// started with os/exec rather than internal/launcher, which gives a process no stdin.
type driver struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	answers chan string
	done    chan struct{}
	log     *tail
}

// driverStart bounds the driver's start: Python, Ray's import and joining the cluster.
const driverStart = 2 * time.Minute

func startDriver(ctx context.Context, mode, gcs, modelURL string) (*driver, error) {
	d := &driver{answers: make(chan string, 4), done: make(chan struct{}), log: &tail{}}
	d.cmd = exec.Command(filepath.Join(".venv", "bin", "python"), filepath.Join("deploy", "bench", "dispatch_driver.py"), mode, gcs, modelURL)
	d.cmd.Stdout, d.cmd.Stderr = &lineWriter{lines: d.answers}, d.log
	// A group of its own: Ctrl-C reaches the bench only, which stops the driver in order.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	d.cmd.WaitDelay = time.Second
	var err error
	if d.stdin, err = d.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the %s driver (make venv): %w", mode, err)
	}
	go func() {
		_ = d.cmd.Wait()
		close(d.done)
	}()
	ctx, cancel := context.WithTimeout(ctx, driverStart)
	defer cancel()
	if _, err := d.answer(ctx); err != nil {
		d.close()
		return nil, fmt.Errorf("the %s driver did not join the head: %w", mode, err)
	}
	return d, nil
}

// driverAnswer is one line of the driver: times in milliseconds.
type driverAnswer struct {
	MS     []float64 `json:"ms"`
	WallMS float64   `json:"wall_ms"`
	Error  string    `json:"error"`
}

func (d *driver) one(ctx context.Context) (time.Duration, error) {
	a, err := d.ask(ctx, 1)
	if err != nil {
		return 0, err
	}
	return millis(a.MS[0]), nil
}

func (d *driver) burst(ctx context.Context, n int) (time.Duration, error) {
	a, err := d.ask(ctx, n)
	return millis(a.WallMS), err
}

func (d *driver) pids() []int { return []int{d.cmd.Process.Pid} }

// close ends stdin, on which the driver leaves the cluster and exits; what is left after a grace
// is killed with its group.
func (d *driver) close() {
	_ = d.stdin.Close()
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.done
	}
}

func (d *driver) ask(ctx context.Context, n int) (driverAnswer, error) {
	if _, err := fmt.Fprintf(d.stdin, "{\"n\": %d}\n", n); err != nil {
		return driverAnswer{}, fmt.Errorf("driver: %w\n%s", err, d.log)
	}
	a, err := d.answer(ctx)
	if err == nil && len(a.MS) != n {
		err = fmt.Errorf("driver answered %d times for %d deliberations", len(a.MS), n)
	}
	return a, err
}

func (d *driver) answer(ctx context.Context) (driverAnswer, error) {
	var a driverAnswer
	select {
	case line := <-d.answers:
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			return a, fmt.Errorf("driver answered %q: %w", line, err)
		}
		if a.Error != "" {
			return a, fmt.Errorf("driver: %s\n%s", a.Error, d.log)
		}
		return a, nil
	case <-d.done:
		return a, fmt.Errorf("driver exited: %s\n%s", d.cmd.ProcessState, d.log)
	case <-ctx.Done():
		return a, ctx.Err()
	}
}

// lineWriter sends every complete line written to it on lines.
type lineWriter struct {
	lines chan<- string
	buf   []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.lines <- string(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
}

func millis(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }
