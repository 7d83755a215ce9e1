package main

import (
	"bytes"
	"io"
	"sync"
)

// maxLine bounds what is held of a line not yet ended, so a process that never writes a newline
// cannot grow the launcher's memory: the excess is forwarded as a line of its own.
const maxLine = 64 << 10

// output forwards the lines of every process to the launcher's own stdout or stderr, each behind
// the name of the process it came from. One lock for all of them keeps lines whole when several
// processes write at once.
type output struct {
	mu sync.Mutex
}

// lineWriter prefixes every line written to it; it holds back a line until it ends.
type lineWriter struct {
	out     *output
	dst     io.Writer
	prefix  []byte
	partial []byte
}

// writer returns a writer that forwards to dst the lines of the process called name.
func (o *output) writer(name string, dst io.Writer) *lineWriter {
	return &lineWriter{out: o, dst: dst, prefix: []byte(padded(name) + " | ")}
}

// padded aligns the names of the stack's processes ("combined" is the longest).
func padded(name string) string {
	const width = len("combined")
	for len(name) < width {
		name += " "
	}
	return name
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.out.mu.Lock()
	defer w.out.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 && len(w.partial) >= maxLine {
			i = maxLine - 1
		}
		if i < 0 {
			break
		}
		w.emit(w.partial[:i+1])
		w.partial = append(w.partial[:0], w.partial[i+1:]...)
	}
	return len(p), nil
}

// flush forwards what is left of an unfinished last line, once the process has exited.
func (w *lineWriter) flush() {
	w.out.mu.Lock()
	defer w.out.mu.Unlock()
	if len(w.partial) > 0 {
		w.emit(append(w.partial, '\n'))
		w.partial = nil
	}
}

// emit writes one line; the launcher cannot do anything useful about a failing terminal, so a
// write error is dropped rather than stopping the process whose output it was.
func (w *lineWriter) emit(line []byte) {
	buf := make([]byte, 0, len(w.prefix)+len(line)+1)
	buf = append(append(buf, w.prefix...), line...)
	if buf[len(buf)-1] != '\n' {
		buf = append(buf, '\n')
	}
	_, _ = w.dst.Write(buf)
}
