package wiring

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/testenv"
)

// TestLogBuffer: lines come out whole, in order, within the flush period or at Close, from many
// writers at once.
func TestLogBuffer(t *testing.T) {
	t.Parallel()
	out := &testenv.Buffer{}
	const every = 20 * time.Millisecond
	b := newLogBuffer(out, every)
	if _, err := b.Write([]byte("first\n")); err != nil {
		t.Fatal(err)
	}
	if out.String() != "" {
		t.Fatal("a line was written at once: nothing is batched")
	}
	deadline := time.Now().Add(time.Second)
	for out.String() != "first\n" {
		if time.Now().After(deadline) {
			t.Fatalf("after 1 s the output is %q", out.String())
		}
		time.Sleep(every / 4)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 200 {
				_, _ = b.Write([]byte(strings.Repeat(string(rune('a'+w)), 40) + "-" + string(rune('0'+i%10)) + "\n"))
			}
		})
	}
	wg.Wait()
	b.Close()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 1+8*200 {
		t.Fatalf("%d lines after Close, want %d", len(lines), 1+8*200)
	}
	for _, l := range lines[1:] {
		if len(l) != 42 || strings.Trim(l[:40], l[:1]) != "" {
			t.Fatalf("a line was torn: %q", l)
		}
	}
}
