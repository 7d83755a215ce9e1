package natsevents

import "sync"

// scheduler runs background drains: at most limit at once, one per deliberation at a time, and
// at most maxQueued deliberations waiting (beyond, their events wait in the outbox for the next
// DeliverPending). A Deliver for a deliberation being drained makes that drain run once more when
// it ends, so an event recorded just after the drain read the outbox is not left behind.
type scheduler struct {
	run   func(id string)
	spawn func(func()) bool

	mu        sync.Mutex
	limit     int
	maxQueued int
	workers   int
	queue     []string
	waiting   map[string]bool
	// running holds the deliberations being drained; true means run again when done.
	running map[string]bool
}

func newScheduler(limit, maxQueued int, run func(string), spawn func(func()) bool) *scheduler {
	return &scheduler{run: run, spawn: spawn, limit: limit, maxQueued: maxQueued,
		waiting: map[string]bool{}, running: map[string]bool{}}
}

// enqueue asks for a drain of id and returns at once.
func (d *scheduler) enqueue(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.running[id]; ok {
		d.running[id] = true
		return
	}
	if d.waiting[id] || len(d.queue) >= d.maxQueued {
		return
	}
	d.queue = append(d.queue, id)
	d.waiting[id] = true
	if d.workers < d.limit && d.spawn(d.work) {
		d.workers++
	}
}

func (d *scheduler) work() {
	for id, ok := d.next(); ok; id, ok = d.next() {
		d.run(id)
		for d.done(id) {
			d.run(id)
		}
	}
}

// next takes the oldest waiting deliberation and marks it running, or retires the worker.
func (d *scheduler) next() (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.queue) == 0 {
		d.workers--
		return "", false
	}
	id := d.queue[0]
	d.queue = d.queue[1:]
	delete(d.waiting, id)
	d.running[id] = false
	return id, true
}

// claim marks id running for a caller that drains it itself (DeliverPending), unless a drain of
// it is running or waiting already; the caller then calls done as a worker does. A drain already
// running may have read the outbox before what the caller came for (a drain that began just
// before NATS went away and fails after it is back): it runs once more when it ends.
func (d *scheduler) claim(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.running[id]; ok {
		d.running[id] = true
		return false
	}
	if d.waiting[id] {
		return false
	}
	d.running[id] = false
	return true
}

// done ends a run of id. True means a Deliver came during the run: run it again (it stays marked).
func (d *scheduler) done(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running[id] {
		d.running[id] = false
		return true
	}
	delete(d.running, id)
	return false
}
