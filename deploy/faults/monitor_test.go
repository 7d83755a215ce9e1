//go:build faults

package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// monitor is what runs beside the load for the whole scenario: the PingSource's reconcile tick,
// callers polling status, and a reader of the statistics that checks invariant 2 of docs/state.md
// at every sample.
type monitor struct {
	c                   *client
	statusURL, statsURL string
	ledger              *ledger
	tick                time.Duration
	stop                context.CancelFunc
	done                sync.WaitGroup

	mu                  sync.Mutex
	pings, pingFailures int
	samples             int
	polls, answered     int
	terminal            map[string]deliberation.Status
	// statsProblems are samples of the counters that break invariant 2 of docs/state.md;
	// pollProblems are status answers that break 5.3 (an accepted id unknown) or the rule that
	// terminal never changes.
	statsProblems, pollProblems []string
	seen                        map[string]bool
}

func startMonitor(c *client, s *stack, l *ledger, tick time.Duration) *monitor {
	ctx, cancel := context.WithCancel(context.Background())
	m := &monitor{c: c, statusURL: s.status.URL, statsURL: s.stats.URL, ledger: l, tick: tick, stop: cancel,
		terminal: map[string]deliberation.Status{}, seen: map[string]bool{}}
	m.done.Go(func() { m.reconcileTick(ctx) })
	m.done.Go(func() { m.sampleStats(ctx) })
	for p := range 2 {
		m.done.Go(func() { m.poll(ctx, p) })
	}
	return m
}

// close stops the monitor and waits for it.
func (m *monitor) close() {
	m.stop()
	m.done.Wait()
}

// problem records what broke, once: pollers meet the same broken deliberation again and again.
func (m *monitor) problem(list *[]string, format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.problemLocked(list, format, args...)
}

func (m *monitor) problemLocked(list *[]string, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if !m.seen[msg] {
		m.seen[msg] = true
		*list = append(*list, msg)
	}
}

// reconcileTick pings the status function every tick; pings never overlap, as with a PingSource
// whose delivery waits for the answer.
func (m *monitor) reconcileTick(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(m.tick):
		}
		a := m.c.ping(ctx, m.statusURL)
		if ctx.Err() != nil {
			return
		}
		m.mu.Lock()
		m.pings++
		if a.err != nil || a.status != http.StatusOK {
			m.pingFailures++
		}
		m.mu.Unlock()
	}
}

// sampleStats reads the counters again and again: at every answer total = active + completed +
// failed, and no counter that only grows ever shrinks (a shrink is a write Redis lost).
func (m *monitor) sampleStats(ctx context.Context) {
	var last deliberation.ExecutionStats
	for ctx.Err() == nil {
		r, a := m.c.stats(ctx, m.statsURL)
		if a.err == nil && a.bad == nil && a.status == http.StatusOK {
			s := r.Stats
			m.mu.Lock()
			m.samples++
			m.mu.Unlock()
			if err := s.Consistent(); err != nil {
				m.problem(&m.statsProblems, "stats sample: %v", err)
			}
			if s.TotalDeliberations < last.TotalDeliberations || s.CompletedDeliberations < last.CompletedDeliberations ||
				s.FailedDeliberations < last.FailedDeliberations || s.CancelledDeliberations < last.CancelledDeliberations {
				m.problem(&m.statsProblems, "stats went back from %+v to %+v", last, s)
			}
			last = s
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// poll asks for the status of accepted deliberations, as callers waiting for an outcome do, by
// URL and by event: an accepted id must never be unknown, and a terminal status never changes.
func (m *monitor) poll(ctx context.Context, poller int) {
	for n := 0; ctx.Err() == nil; n++ {
		ids := m.ledger.acceptedIDs()
		if len(ids) > 0 {
			id := ids[rand.IntN(len(ids))]
			var r deliberation.Status
			var a answer
			if n%2 == 0 {
				rep, ans := m.c.status(ctx, m.statusURL, id)
				r, a = rep.Status, ans
			} else {
				rep, ans := m.c.statusEvent(ctx, m.statusURL, id, poller%2 == 0)
				r, a = rep.Status, ans
			}
			m.observe(id, r, a)
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (m *monitor) observe(id string, st deliberation.Status, a answer) {
	m.mu.Lock()
	m.polls++
	m.mu.Unlock()
	switch {
	case a.err != nil || a.status >= 500:
		return // an outage answers 503 or nothing; the caller asks again
	case a.bad != nil:
		m.problem(&m.pollProblems, "status of %s: %v", id, a.bad)
		return
	case st == deliberation.StatusNotFound:
		m.problem(&m.pollProblems, "accepted deliberation %s answered not_found", id)
		return
	case a.status != http.StatusOK:
		m.problem(&m.pollProblems, "status of %s answered %d: %s", id, a.status, a.body)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.answered++
	first, seen := m.terminal[id]
	switch {
	case seen && first != st:
		m.problemLocked(&m.pollProblems, "terminal deliberation %s went from %s to %s", id, first, st)
	case !seen && st.Terminal():
		m.terminal[id] = st
	}
}

// report is one line about what the monitor did, for the log.
func (m *monitor) report() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fmt.Sprintf("%d reconcile pings (%d failed), %d stats samples, %d status polls (%d answered)",
		m.pings, m.pingFailures, m.samples, m.polls, m.answered)
}

// problems returns what the monitor saw break, counters and polls apart.
func (m *monitor) problems() (stats, polls []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.statsProblems...), append([]string(nil), m.pollProblems...)
}
