package app_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

func TestSweepTidiesRay(t *testing.T) {
	h := newHarness(t)
	finished, active, retried := h.submit(t), h.submit(t), h.submit(t)
	h.ray.StatusFn = func(_ context.Context, id string) (app.AttemptStatus, error) {
		switch id {
		case finished:
			return app.AttemptStatus{State: deliberation.JobFailed, Summary: "exit 1"}, nil
		case retried:
			return app.AttemptStatus{State: deliberation.JobFailed, Infrastructure: true, Summary: "JOB_SUPERVISOR_ACTOR_DIED"}, nil
		}
		return app.AttemptStatus{State: deliberation.JobRunning}, nil
	}
	h.status(t, finished)
	h.status(t, retried)
	h.clock.Advance(time.Minute)
	orphanOld, orphanYoung := deliberation.IDFromKey("orphan-old"), deliberation.IDFromKey("orphan-young")
	h.ray.ListFn = func(context.Context) ([]app.Attempt, error) {
		live := func(sub, id string, started time.Time) app.Attempt {
			return app.Attempt{SubmissionID: sub, DeliberationID: id, Status: app.AttemptStatus{State: deliberation.JobRunning, StartTime: started}}
		}
		return []app.Attempt{
			{SubmissionID: finished, DeliberationID: finished, Status: app.AttemptStatus{State: deliberation.JobFailed}},
			live(active, active, epoch),
			live(retried, retried, epoch),                 // superseded by attempt 2
			live(retried+"-a2", retried, epoch),           // the current attempt
			live(orphanOld, orphanOld, epoch),             // no entry, long running
			live(orphanYoung, orphanYoung, h.clock.Now()), // no entry, may be mid-step
		}, nil
	}
	h.ray.StatusFn = func(context.Context, string) (app.AttemptStatus, error) {
		return app.AttemptStatus{State: deliberation.JobRunning}, nil
	}
	if _, err := h.svc.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := h.ray.Calls("Delete"); !slices.Contains(got, finished) {
		t.Fatalf("deleted %v, want the finished job", got)
	}
	stopped := h.ray.Calls("Stop")
	slices.Sort(stopped)
	want := []string{orphanOld, retried}
	slices.Sort(want)
	if !slices.Equal(stopped, want) {
		t.Fatalf("stopped %v, want the superseded attempt and the old orphan %v", stopped, want)
	}
}
