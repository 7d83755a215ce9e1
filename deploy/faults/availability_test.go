//go:build faults

package faults

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// availability follows the answers to writes (executes and cancels) as their callers see them:
// how many said 503, and the longest write-unavailability window, from the last write answered
// before a failure to the next write answered after it.
type availability struct {
	mu          sync.Mutex
	lastOK      time.Time
	failingFrom time.Time // the start of the window in progress; zero while writes succeed
	longest     time.Duration
	longestAt   time.Time
	unavailable int // answers 503
	noAnswer    int // requests that got no HTTP answer at all
}

// note records one answer to a write: a retryable one (none, 429, 5xx) opens a window unless one
// is open, any other closes it.
func (a *availability) note(ans answer) {
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case ans.err != nil:
		a.noAnswer++
	case ans.status == http.StatusServiceUnavailable:
		a.unavailable++
	}
	if ans.retryable() {
		if a.failingFrom.IsZero() {
			a.failingFrom = a.lastOK
			if a.failingFrom.IsZero() {
				a.failingFrom = now
			}
		}
		return
	}
	if !a.failingFrom.IsZero() {
		if window := now.Sub(a.failingFrom); window > a.longest {
			a.longest, a.longestAt = window, a.failingFrom
		}
		a.failingFrom = time.Time{}
	}
	a.lastOK = now
}

// report is the failover scenario's second closing line.
func (a *availability) report(mode string, failovers []time.Duration) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	took := make([]string, len(failovers))
	for i, d := range failovers {
		took[i] = d.Round(100 * time.Millisecond).String()
	}
	return fmt.Sprintf("faults: redis %s, %d primaries SIGKILLed (new primary after %s), longest write-unavailability %.1f s, %d answers 503, %d requests unanswered",
		mode, len(failovers), strings.Join(took, ", "), a.longest.Seconds(), a.unavailable, a.noAnswer)
}

// window is the longest write-unavailability window so far.
func (a *availability) window() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.longest
}
