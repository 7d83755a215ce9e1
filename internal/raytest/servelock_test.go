package raytest

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// TestLockServeExcludes: a second holder of the same head waits for the first, and one of
// another head does not.
func TestLockServeExcludes(t *testing.T) {
	t.Parallel()
	addr := "http://lock-test-" + strconv.Itoa(os.Getpid()) + ":8265" // a head no other process locks
	unlock, err := LockServe(addr)
	if err != nil {
		t.Fatal(err)
	}
	other, err := LockServe("http://other-" + strconv.Itoa(os.Getpid()) + ":8265")
	if err != nil {
		t.Fatal(err)
	}
	other()
	got := make(chan func())
	go func() {
		second, err := LockServe(addr)
		if err != nil {
			t.Error(err)
		}
		got <- second
	}()
	select {
	case <-got:
		t.Fatal("a second holder took the lock while the first held it")
	case <-time.After(300 * time.Millisecond):
	}
	unlock()
	select {
	case second := <-got:
		second()
	case <-time.After(5 * time.Second):
		t.Fatal("the second holder did not get the lock once the first let go")
	}
}
