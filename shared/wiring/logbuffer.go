package wiring

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// LogFlushEvery is the longest a log line waits in a function's buffer before it is written.
const LogFlushEvery = 100 * time.Millisecond

// logBufferSize is written at once when full, whatever the time.
const logBufferSize = 64 << 10

// logBuffer batches log lines into few writes: a line per request is otherwise a write system
// call per request, for the function and for the container runtime reading its output, a real
// share of a small function's CPU at 1,000 requests/s. Lines wait at most LogFlushEvery; Close
// writes the rest when the function stops. A killed process loses at most that last moment of
// logs, never state: state is in Redis.
type logBuffer struct {
	mu   sync.Mutex
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

func newLogBuffer(w io.Writer, every time.Duration) *logBuffer {
	b := &logBuffer{w: bufio.NewWriterSize(w, logBufferSize), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				b.flush()
			case <-b.stop:
				return
			}
		}
	}()
	return b
}

// Write takes whole lines from the log handler, which writes each record in one call.
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

func (b *logBuffer) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.w.Flush()
}

// Close stops the timer and writes what is buffered.
func (b *logBuffer) Close() {
	close(b.stop)
	<-b.done
	b.flush()
}
