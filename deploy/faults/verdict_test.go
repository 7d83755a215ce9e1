//go:build faults

package faults

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// lateSlack is how far past its deadline a deliberation may end and still count as ended by it:
// the status logic's deadline grace (5 s), a reconcile tick, and a Redis outage during which
// nothing can be recorded.
const lateSlack = 20 * time.Second

// verdict is the closing line's numbers, and the reasons behind each one that is not zero.
type verdict struct {
	deliberations, lost, countedTwice, events, duplicates int
	reasons                                               []string
}

func (v *verdict) because(format string, args ...any) {
	v.reasons = append(v.reasons, fmt.Sprintf(format, args...))
}

// line is the closing line of the suite.
func (v verdict) line() string {
	return fmt.Sprintf("faults: %s deliberations, %s lost, %s counted twice, %s events, %s duplicates",
		thousands(v.deliberations), thousands(v.lost), thousands(v.countedTwice), thousands(v.events), thousands(v.duplicates))
}

// judgeLost counts the accepted deliberations that are gone, or not terminal by their deadline
// (invariant 3 of docs/state.md), asking the status function as a caller would. It returns the
// final status of each.
func (v *verdict) judgeLost(ctx context.Context, c *client, statusURL string, accepted map[string]*entry) map[string]deliberation.Status {
	final := map[string]deliberation.Status{}
	for id, e := range accepted {
		r, a := c.status(ctx, statusURL, id)
		switch {
		case a.err != nil || a.bad != nil:
			v.lost++
			v.because("status of %s unreadable: %v %v", id, a.err, a.bad)
		case r.Status == deliberation.StatusNotFound:
			v.lost++
			v.because("accepted deliberation %s (execute %d, %s) does not exist", id, e.index, e.via)
		case !r.Status.Terminal():
			v.lost++
			v.because("accepted deliberation %s is still %s (attempts %d)", id, r.Status, r.Attempts)
		case r.SubmittedAt == nil || r.FinishedAt == nil:
			v.lost++
			v.because("terminal deliberation %s has no submitted_at or finished_at", id)
		case r.FinishedAt.After(r.SubmittedAt.Add(e.shape.timeout + lateSlack)):
			v.lost++
			v.because("deliberation %s ended %s after its deadline", id, r.FinishedAt.Sub(r.SubmittedAt.Add(e.shape.timeout)))
		}
		final[id] = r.Status
	}
	return final
}

// judgeCounts compares the counters with what Redis holds (invariants 1 and 2 of docs/state.md):
// each deliberation is counted once in total and once in completed, failed or cancelled. Every count off by
// one is one count in the closing line, over or under, and so is every sample of the monitor that
// broke 5.2.
func (v *verdict) judgeCounts(st app.StatsReport, stored map[string]deliberation.Deliberation, sampleViolations int) {
	var completed, failed, cancelled, active int64
	for _, d := range stored {
		switch d.Status {
		case deliberation.StatusCompleted:
			completed++
		case deliberation.StatusFailed:
			failed++
		case deliberation.StatusCancelled:
			cancelled++
		default:
			active++
		}
	}
	s := st.Stats
	off := func(name string, got, want int64) {
		if got != want {
			v.countedTwice += int(max(got-want, want-got))
			v.because("stats %s = %d, Redis holds %d", name, got, want)
		}
	}
	off("total_deliberations", s.TotalDeliberations, int64(len(stored)))
	off("completed_deliberations", s.CompletedDeliberations, completed)
	off("failed_deliberations", s.FailedDeliberations, failed)
	off("cancelled_deliberations", s.CancelledDeliberations, cancelled)
	off("active_deliberations", s.ActiveDeliberations, active)
	if err := s.Consistent(); err != nil {
		v.countedTwice++
		v.because("final stats: %v", err)
	}
	v.countedTwice += sampleViolations
}

// judgeEvents counts the stream's messages and duplicates, and gives a reason for every
// deliberation whose events are missing, out of order, or not lifecycle CloudEvents.
func (v *verdict) judgeEvents(log *eventLog, final map[string]deliberation.Status) {
	v.events, v.duplicates = log.messages, log.duplicates()
	if v.duplicates > 0 {
		for id, n := range log.byID {
			if n > 1 {
				v.because("event %s is in the stream %d times", id, n)
			}
		}
	}
	for _, p := range append(log.invalid, log.problems(final)...) {
		v.because("events: %s", p)
	}
}

// thousands writes a count with comma separators, as the closing line shows it.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// judgeCancels checks every cancel the load sent against the deliberation's final status: a
// cancel answered 202 or 200 left it cancelled, one answered 409 lost to its completion or
// failure. It returns how many cancels were answered each status (0: no answer).
func judgeCancels(v *verdict, cancels map[string]int, final map[string]deliberation.Status) map[int]int {
	byStatus := map[int]int{}
	for id, status := range cancels {
		byStatus[status]++
		got := final[id]
		switch status {
		case http.StatusAccepted, http.StatusOK:
			if got != deliberation.StatusCancelled {
				v.because("cancel of %s was answered %d, but it ended %s", id, status, got)
			}
		case http.StatusConflict:
			if got != deliberation.StatusCompleted && got != deliberation.StatusFailed {
				v.because("cancel of %s was answered 409, but it ended %s", id, got)
			}
		}
	}
	if len(cancels) >= 5 && byStatus[http.StatusAccepted] == 0 {
		v.because("none of the %d cancels sent was recorded (202): the load cancelled nothing", len(cancels))
	}
	return byStatus
}
