package app_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

func TestStatsAverageAndUptime(t *testing.T) {
	h := newHarness(t)
	res := threeAgentResult(t)
	h.ray.ResultFn = func(context.Context, string) (deliberation.Result, error) { return res, nil }
	for _, ms := range []int{1000, 3000} {
		id := h.submit(t)
		h.rayReports(app.AttemptStatus{State: deliberation.JobSucceeded, StartTime: epoch, EndTime: epoch.Add(time.Duration(ms) * time.Millisecond)})
		h.status(t, id)
	}
	failed := h.submit(t)
	h.rayReports(app.AttemptStatus{State: deliberation.JobFailed, Summary: "exit 1"})
	h.ray.ResultFn = nil
	h.status(t, failed)
	h.submit(t)
	h.clock.Advance(90 * time.Second)
	r, err := h.svc.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wantStats(t, r.Stats, 4, 1, 2, 1)
	if r.Stats.AverageExecutionTimeMS != 2000 || r.UptimeSeconds != 90 || r.Status != "healthy" {
		t.Fatalf("report = %+v, want average 2000 ms and uptime 90 s", r)
	}
}

func TestStatsUnavailable(t *testing.T) {
	h := newHarness(t)
	h.store.SetErr(errors.New("down"))
	if _, err := h.svc.Stats(context.Background()); deliberation.ErrorCode(err) != deliberation.CodeUnavailable {
		t.Fatalf("error = %v", err)
	}
}

func TestActiveJobsOnlyActive(t *testing.T) {
	h := newHarness(t)
	done := h.submit(t)
	h.clock.Advance(time.Second)
	running := h.submit(t)
	h.clock.Advance(time.Second)
	queued := h.submit(t)
	h.rayReports(app.AttemptStatus{State: deliberation.JobFailed, Summary: "x"})
	h.status(t, done)
	h.rayReports(app.AttemptStatus{State: deliberation.JobRunning})
	h.status(t, running)
	h.clock.Advance(43 * time.Second)
	page, err := h.svc.ActiveJobs(context.Background(), 100, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Jobs) != 2 || page.Jobs[0].JobID != running || page.Jobs[1].JobID != queued || page.NextCursor != "" {
		t.Fatalf("jobs = %+v", page)
	}
	if page.Jobs[0].Status != deliberation.JobRunning || page.Jobs[0].Runtime != "0m 43s" || page.Jobs[1].Status != deliberation.JobPending || page.Jobs[1].Runtime != "0m 43s" {
		t.Fatalf("jobs = %+v", page.Jobs)
	}
	first, _ := h.svc.ActiveJobs(context.Background(), 1, "")
	second, _ := h.svc.ActiveJobs(context.Background(), 1, first.NextCursor)
	if len(first.Jobs) != 1 || len(second.Jobs) != 1 || second.Jobs[0].JobID != queued || second.NextCursor != "" {
		t.Fatalf("pages = %+v then %+v", first, second)
	}
	for _, limit := range []int{0, 1001} {
		if _, err := h.svc.ActiveJobs(context.Background(), limit, ""); deliberation.ErrorCode(err) != deliberation.CodeInvalid {
			t.Fatalf("limit %d error = %v, want invalid", limit, err)
		}
	}
}
