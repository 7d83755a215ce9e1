package natsevents

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// runner records the drains it runs; each blocks until released.
type runner struct {
	release     chan struct{}
	mu          sync.Mutex
	runs        map[string]int
	active      map[string]int
	now, most   atomic.Int64
	overlapping atomic.Bool
	wg          sync.WaitGroup
}

func newRunner() *runner {
	return &runner{release: make(chan struct{}), runs: map[string]int{}, active: map[string]int{}}
}

func (r *runner) run(id string) {
	r.mu.Lock()
	r.runs[id]++
	r.active[id]++
	if r.active[id] > 1 {
		r.overlapping.Store(true)
	}
	r.mu.Unlock()
	n := r.now.Add(1)
	for m := r.most.Load(); n > m && !r.most.CompareAndSwap(m, n); m = r.most.Load() {
	}
	<-r.release
	r.now.Add(-1)
	r.mu.Lock()
	r.active[id]--
	r.mu.Unlock()
}

func (r *runner) spawn(f func()) bool {
	r.wg.Go(f)
	return true
}

func (r *runner) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs[id]
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSchedulerBoundsConcurrencyAndQueue(t *testing.T) {
	r := newRunner()
	d := newScheduler(3, 5, r.run, r.spawn)
	ids := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	for _, id := range ids[:3] {
		d.enqueue(id)
	}
	waitFor(t, "3 drains", func() bool { return r.now.Load() == 3 })
	for _, id := range ids[3:] {
		d.enqueue(id)
	}
	close(r.release)
	r.wg.Wait()
	if m := r.most.Load(); m != 3 {
		t.Fatalf("%d drains at once, want at most 3", m)
	}
	ran := 0
	for _, id := range ids {
		ran += r.count(id)
	}
	// 3 running and 5 waiting: the last 2 wait in the outbox for the next DeliverPending.
	if ran != 8 {
		t.Fatalf("%d drains ran, want 8", ran)
	}
}

// TestSchedulerRunsAgainForWhatCameMeanwhile: a Deliver during a drain of the same deliberation runs
// it once more afterwards (never alongside), however many Delivers came.
func TestSchedulerRunsAgainForWhatCameMeanwhile(t *testing.T) {
	r := newRunner()
	d := newScheduler(4, 10, r.run, r.spawn)
	d.enqueue("a")
	waitFor(t, "the first drain", func() bool { return r.count("a") == 1 })
	for range 5 {
		d.enqueue("a")
	}
	if d.claim("a") {
		t.Fatal("DeliverPending could claim a deliberation being drained")
	}
	r.release <- struct{}{}
	waitFor(t, "the second drain", func() bool { return r.count("a") == 2 })
	close(r.release)
	r.wg.Wait()
	if n := r.count("a"); n != 2 || r.overlapping.Load() {
		t.Fatalf("%d drains (overlapping %v), want 2 one after the other", n, r.overlapping.Load())
	}
	if !d.claim("a") || d.done("a") {
		t.Fatal("an idle deliberation could not be claimed and released")
	}
}

// TestSchedulerRunsAgainForACatchUp: a catch-up (DeliverPending) that finds a drain of the same
// deliberation running, one that may have read the outbox before NATS came back, makes that drain
// run once more instead of skipping the deliberation for good.
func TestSchedulerRunsAgainForACatchUp(t *testing.T) {
	r := newRunner()
	d := newScheduler(4, 10, r.run, r.spawn)
	d.enqueue("a")
	waitFor(t, "the first drain", func() bool { return r.count("a") == 1 })
	if d.claim("a") {
		t.Fatal("DeliverPending could claim a deliberation being drained")
	}
	close(r.release)
	waitFor(t, "the drain for the catch-up", func() bool { return r.count("a") == 2 })
	r.wg.Wait()
	if r.overlapping.Load() {
		t.Fatal("the drains overlapped")
	}
}
