package app_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// The lifecycle steps race with other replicas: a status check asks Ray about the entry it read,
// and by the time Ray answers another replica may have moved the entry on. Each test below makes
// that other replica's step from inside Ray's answer to the first check.

// raceWithin makes the first Ray status query about id run other first (as another replica would,
// meanwhile), then answer first; later queries answer later.
func (h *harness) raceWithin(t *testing.T, id string, other func(), first, later app.AttemptStatus) {
	t.Helper()
	calls := 0
	h.ray.StatusFn = func(_ context.Context, sub string) (app.AttemptStatus, error) {
		calls++
		if calls == 1 {
			other()
			return first, nil
		}
		return later, nil
	}
}

// A check that read attempt 1 and hears Ray stopped it records nothing once another replica moved
// the entry to attempt 2: what Ray says of an attempt counts only while it is the current one.
func TestStaleAttemptRecordsNothing(t *testing.T) {
	h := newHarness(t)
	id := h.submit(t)
	h.clock.Advance(time.Second)
	infra := app.AttemptStatus{State: deliberation.JobFailed, Infrastructure: true, Summary: "JOB_SUPERVISOR_ACTOR_DIED"}
	h.raceWithin(t, id, func() {
		if r := h.status(t, id); r.SubmissionID != id+"-a2" {
			t.Errorf("the other replica's check = %+v, want attempt 2", r)
		}
	}, app.AttemptStatus{State: deliberation.JobStopped}, infra)
	r := h.status(t, id)
	if r.Status != deliberation.StatusSubmitted || r.SubmissionID != id+"-a2" || r.ErrorMessage != "" {
		t.Fatalf("report = %+v, want attempt 2 submitted: attempt 1's stop is not its outcome", r)
	}
	wantStats(t, h.stats(t), 1, 1, 0, 0)
}

// A check that hears Ray stopped the attempt a concurrent cancel just stopped leaves the entry
// cancelled: a terminal status never changes, is counted once and has one terminal event.
func TestCancelledStaysCancelledWhateverACheckHeard(t *testing.T) {
	h := newHarness(t)
	id := h.submit(t)
	stopped := app.AttemptStatus{State: deliberation.JobStopped}
	h.raceWithin(t, id, func() {
		if res, err := h.svc.Cancel(context.Background(), id, "story dropped"); err != nil || res.Outcome != app.CancelRecorded {
			t.Errorf("cancel = %+v, %v", res, err)
		}
	}, stopped, stopped)
	if r := h.status(t, id); r.Status != deliberation.StatusCancelled || r.Reason != "story dropped" {
		t.Fatalf("report = %+v, want cancelled", r)
	}
	st := h.stats(t)
	if st.CancelledDeliberations != 1 || st.FailedDeliberations != 0 || st.ActiveDeliberations != 0 || st.Consistent() != nil {
		t.Fatalf("stats = %+v, want one cancel and nothing else", st)
	}
	if got := strings.Join(h.events.Published(), ","); got != id+".submitted,"+id+".cancelled" {
		t.Fatalf("events = %s", got)
	}
}

// A retry whose move to the next attempt did not win (the entry was cancelled meanwhile) neither
// deletes nor submits anything: a next attempt exists only once its compare-and-set won.
func TestRetryOnlyAfterItsMoveWon(t *testing.T) {
	h := newHarness(t)
	id := h.submit(t)
	infra := app.AttemptStatus{State: deliberation.JobFailed, Infrastructure: true, Summary: "JOB_SUPERVISOR_ACTOR_DIED"}
	h.raceWithin(t, id, func() {
		if _, err := h.svc.Cancel(context.Background(), id, ""); err != nil {
			t.Error(err)
		}
	}, infra, infra)
	if r := h.status(t, id); r.Status != deliberation.StatusCancelled || r.Attempts != 1 {
		t.Fatalf("report = %+v, want cancelled after one attempt", r)
	}
	if got := h.ray.Calls("Submit"); !slices.Equal(got, []string{id}) {
		t.Fatalf("submissions = %v, want execute's only", got)
	}
	if got := h.ray.Calls("Delete"); !slices.Equal(got, []string{id}) {
		t.Fatalf("deletes = %v, want the cancel's cleanup only", got)
	}
}
