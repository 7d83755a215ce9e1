//go:build faults

package faults

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// How an execute reached the service.
const (
	viaEvent     = "event"    // a CloudEvent delivered 5-20 times at once (same source and id)
	viaKeyedHTTP = "http+key" // plain JSON with an Idempotency-Key, replayed at once and later
	viaHTTP      = "http"     // plain JSON without a key, sent once
)

// ledger is the callers' side of the story: every execute sent, and what the service answered.
// A deliberation is accepted once any answer (202 or 200) named its id.
type ledger struct {
	mu      sync.Mutex
	entries []*entry
	// ambiguous counts keyless executes that got no answer (a crash mid-request): the service
	// may or may not have recorded them, and the caller cannot tell.
	ambiguous int
	// acceptedCount counts the executes that were given an id, in the order they were; every
	// cancelEvery-th is cancelled a moment later.
	acceptedCount int
	// cancels is the status the cancel of each cancelled id was answered: 202 (recorded), 200
	// (already cancelled) or 409 (already completed or failed); 0 when no answer came.
	cancels map[string]int
}

// cancelEvery is the share of accepted deliberations the load cancels.
const cancelEvery = 20

// entry is one execute and its replays.
type entry struct {
	index  int
	via    string
	shape  shape
	sentAt time.Time
	// ids counts the answers naming each id: a replay that named another id is a duplicate.
	ids map[string]int
	// created counts 202 answers: more than one for one key means two deliberations were made.
	created int
}

func (l *ledger) add(index int, via string, sh shape) *entry {
	e := &entry{index: index, via: via, shape: sh, sentAt: time.Now(), ids: map[string]int{}}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, e)
	return e
}

// answered records an answer of status naming id. It reports whether the load is to cancel the
// deliberation: the first answer of every cancelEvery-th accepted execute.
func (l *ledger) answered(e *entry, id string, status int) (cancel bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	first := len(e.ids) == 0
	e.ids[id]++
	if status == 202 {
		e.created++
	}
	if !first {
		return false
	}
	l.acceptedCount++
	return l.acceptedCount%cancelEvery == 0
}

// cancelAnswered records the answer to the cancel of id.
func (l *ledger) cancelAnswered(id string, status int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cancels == nil {
		l.cancels = map[string]int{}
	}
	l.cancels[id] = status
}

// cancelled is a snapshot of the cancels and their answers.
func (l *ledger) cancelled() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.cancels)
}

func (l *ledger) noAnswer() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ambiguous++
}

// accepted returns the ids callers were told were accepted, with the entry of each.
func (l *ledger) accepted() map[string]*entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]*entry{}
	for _, e := range l.entries {
		for id := range e.ids {
			out[id] = e
		}
	}
	return out
}

// acceptedIDs is a snapshot of the accepted ids, for pollers.
func (l *ledger) acceptedIDs() []string {
	return slices.Sorted(maps.Keys(l.accepted()))
}

// replayProblems lists every execute whose replays named more than one id, or that made more
// than one deliberation, and every execute that never got an id (except keyless ones without an
// answer).
func (l *ledger) replayProblems() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.entries {
		switch {
		case len(e.ids) > 1:
			out = append(out, fmt.Sprintf("execute %d (%s) was answered with %d ids: %v", e.index, e.via, len(e.ids), e.ids))
		case e.created > 1:
			out = append(out, fmt.Sprintf("execute %d (%s) was answered 202 (created) %d times", e.index, e.via, e.created))
		case len(e.ids) == 0 && e.via != viaHTTP:
			out = append(out, fmt.Sprintf("execute %d (%s) was never accepted", e.index, e.via))
		}
	}
	return out
}

// counts tells how many executes went each way, and how many answers named an id.
func (l *ledger) counts() (byVia map[string]int, answers int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	byVia = map[string]int{}
	for _, e := range l.entries {
		byVia[e.via]++
		for _, n := range e.ids {
			answers += n
		}
	}
	return byVia, answers
}
