package app_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/fakes"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

func TestStatusNotFound(t *testing.T) {
	h := newHarness(t)
	id := deliberation.IDFromKey("nobody")
	r := h.status(t, id)
	if r.Status != deliberation.StatusNotFound || r.ErrorMessage != "Deliberation "+id+" not found" {
		t.Fatalf("report = %+v", r)
	}
	for _, bad := range []string{"../../x", "delib-\x00", string(make([]byte, 5000))} {
		if _, err := h.svc.Status(context.Background(), bad); deliberation.ErrorCode(err) != deliberation.CodeInvalid {
			t.Errorf("Status(%.20q) error = %v, want invalid", bad, err)
		}
	}
}

func TestStatusRunning(t *testing.T) {
	h := newHarness(t)
	id := h.submit(t)
	h.rayReports(app.AttemptStatus{State: deliberation.JobRunning})
	h.clock.Advance(2 * time.Second)
	r := h.status(t, id)
	if r.Status != deliberation.StatusRunning || r.StartedAt == nil || !r.StartedAt.Equal(epoch.Add(2*time.Second)) {
		t.Fatalf("report = %+v", r)
	}
	h.status(t, id)
	if got := h.events.Published(); !slices.Equal(got, []string{id + ".submitted", id + ".started"}) {
		t.Fatalf("events = %v, want one started", got)
	}
}

// TestStatusCompletedCountsOnce: however often it is polled, a completion counts once.
func TestStatusCompletedCountsOnce(t *testing.T) {
	h := newHarness(t)
	id := h.submit(t)
	res := threeAgentResult(t)
	h.rayReports(app.AttemptStatus{State: deliberation.JobSucceeded, StartTime: epoch, EndTime: epoch.Add(5300 * time.Millisecond)})
	h.ray.ResultFn = func(context.Context, string) (deliberation.Result, error) { return res, nil }
	for range 5 {
		r := h.status(t, id)
		if r.Status != deliberation.StatusCompleted || r.ExecutionTimeMS != 5300 || r.Result.BestResult.AgentID != "a3" ||
			r.Result.FailedAgents != 1 || r.Result.Failures[0].AgentID != "a2" {
			t.Fatalf("report = %+v", r)
		}
	}
	wantStats(t, h.stats(t), 1, 0, 1, 0)
	if n := len(h.ray.Calls("Result")); n != 1 {
		t.Fatalf("logs read %d times, want once (then Redis answers)", n)
	}
	if got := h.ray.Calls("Delete"); !slices.Equal(got, []string{id}) {
		t.Fatalf("deleted jobs = %v, want the finished one", got)
	}
	if got := h.events.Published(); got[len(got)-1] != id+".completed" || len(got) != 2 {
		t.Fatalf("events = %v", got)
	}
}

func TestStatusFailedByEntrypointIsNotRetried(t *testing.T) {
	h := newHarness(t)
	id := h.submit(t)
	h.rayReports(app.AttemptStatus{State: deliberation.JobFailed, Summary: "entrypoint exited with code 3"})
	allFailed, _ := deliberation.NewResult(nil, []deliberation.AgentFailure{{AgentID: "a1", Error: "503"},
		{AgentID: "a2", Error: "503"}, {AgentID: "a3", Error: "timed out"}}, 3, "")
	h.ray.ResultFn = func(context.Context, string) (deliberation.Result, error) { return allFailed, nil }
	r := h.status(t, id)
	if r.Status != deliberation.StatusFailed || r.Attempts != 1 || r.Result == nil || r.Result.Failures[0].Error != "503" {
		t.Fatalf("report = %+v, want failed with the agents' errors kept", r)
	}
	if r.ErrorMessage != "entrypoint exited with code 3: no agent produced a proposal (a1: 503; a2: 503; a3: timed out)" {
		t.Fatalf("error message = %q", r.ErrorMessage)
	}
	wantStats(t, h.stats(t), 1, 0, 0, 1)
}

func TestStatusInfrastructureFailureResubmits(t *testing.T) {
	h := newHarness(t)
	id := h.submit(t)
	h.ray.StatusFn = func(_ context.Context, sub string) (app.AttemptStatus, error) {
		if sub == id {
			return app.AttemptStatus{State: deliberation.JobFailed, Infrastructure: true, Summary: "JOB_SUPERVISOR_ACTOR_DIED"}, nil
		}
		return app.AttemptStatus{State: deliberation.JobRunning}, nil
	}
	h.clock.Advance(time.Second)
	r := h.status(t, id)
	if r.Status != deliberation.StatusSubmitted || r.Attempts != 2 || r.SubmissionID != id+"-a2" {
		t.Fatalf("report = %+v, want attempt 2 under %s-a2", r, id)
	}
	if got := h.ray.Calls("Submit"); !slices.Equal(got, []string{id, id + "-a2"}) {
		t.Fatalf("submissions = %v", got)
	}
	if r := h.status(t, id); r.Status != deliberation.StatusRunning {
		t.Fatalf("second attempt status = %s", r.Status)
	}
	wantStats(t, h.stats(t), 1, 1, 0, 0)
}

func TestStatusRetriesAreBounded(t *testing.T) {
	h := newHarness(t)
	in := input()
	zero := 0
	in.Constraints.MaxRetries = &zero
	sub, _ := h.svc.Execute(context.Background(), app.ExecuteCommand{Input: in})
	h.rayReports(app.AttemptStatus{State: deliberation.JobFailed, Infrastructure: true, Summary: "RUNTIME_ENV_SETUP_FAILED"})
	r := h.status(t, sub.DeliberationID)
	if r.Status != deliberation.StatusFailed || r.Attempts != 1 || r.ErrorMessage != "RUNTIME_ENV_SETUP_FAILED" {
		t.Fatalf("report = %+v, want failed after one attempt", r)
	}
}

// TestStatusRayErrorAnswersLastKnown: while Ray is unreachable, status answers from Redis.
func TestStatusRayErrorAnswersLastKnown(t *testing.T) {
	h := newHarness(t)
	id := h.submit(t)
	h.ray.StatusFn = func(context.Context, string) (app.AttemptStatus, error) {
		return app.AttemptStatus{}, deliberation.Unavailable(errors.New("refused"), "ray unavailable")
	}
	r := h.status(t, id)
	if r.Status != deliberation.StatusSubmitted {
		t.Fatalf("report = %+v", r)
	}
	wantStats(t, h.stats(t), 1, 1, 0, 0)
}

func TestStatusDeadlineFailsThenStops(t *testing.T) {
	h := newHarness(t)
	id := h.submit(t)
	h.rayReports(app.AttemptStatus{State: deliberation.JobRunning})
	h.clock.Advance(306 * time.Second)
	r := h.status(t, id)
	if r.Status != deliberation.StatusFailed || r.ErrorMessage != "timed out after 300 s" {
		t.Fatalf("report = %+v", r)
	}
	if got := h.ray.Calls("Stop"); !slices.Equal(got, []string{id}) {
		t.Fatalf("stopped = %v", got)
	}
	// The stopped job's late success must not count.
	h.rayReports(app.AttemptStatus{State: deliberation.JobSucceeded})
	h.status(t, id)
	wantStats(t, h.stats(t), 1, 0, 0, 1)
}

func TestStatusPendingTooLong(t *testing.T) {
	h := newHarness(t)
	in := input()
	hour := 3600
	in.Constraints.TimeoutSeconds = &hour
	sub, _ := h.svc.Execute(context.Background(), app.ExecuteCommand{Input: in})
	h.rayReports(app.AttemptStatus{State: deliberation.JobPending})
	h.clock.Advance(16 * time.Minute)
	r := h.status(t, sub.DeliberationID)
	if r.Status != deliberation.StatusFailed || r.ErrorMessage != "job pending on Ray for more than 15m0s (resources unavailable)" {
		t.Fatalf("report = %+v", r)
	}
	if len(h.ray.Calls("Stop")) != 1 {
		t.Fatal("pending job not stopped")
	}
}

func TestStatusSubmitsWhatRayNeverReceived(t *testing.T) {
	h := newHarness(t)
	down := true
	h.ray.SubmitFn = func(context.Context, deliberation.Deliberation, deliberation.Request) error {
		if down {
			return deliberation.Unavailable(errors.New("refused"), "ray unavailable")
		}
		return nil
	}
	h.ray.StatusFn = func(context.Context, string) (app.AttemptStatus, error) {
		return app.AttemptStatus{}, deliberation.Errorf(deliberation.CodeNotFound, "no such job")
	}
	id := h.submit(t)
	down = false
	if r := h.status(t, id); r.Status != deliberation.StatusSubmitted || len(h.ray.Calls("Submit")) != 1 {
		t.Fatal("a young entry was repaired: another replica may be mid-step")
	}
	h.clock.Advance(10 * time.Second)
	h.status(t, id)
	if got := h.ray.Calls("Submit"); !slices.Equal(got, []string{id, id}) {
		t.Fatalf("submissions = %v, want the same deterministic id again", got)
	}
	d, _ := h.store.Get(context.Background(), id)
	if !d.OnRay {
		t.Fatal("entry not marked as on Ray after the repair")
	}
}

func TestStatusChecksRayAtMostOncePerPeriod(t *testing.T) {
	h := newHarness(t)
	h.svc.Settings.CheckPeriod = time.Minute
	id := h.submit(t)
	for range 10 {
		h.status(t, id)
	}
	if n := len(h.ray.Calls("Status")); n != 1 {
		t.Fatalf("Ray asked %d times, want 1", n)
	}
}

func TestStatusStoppedOutsideTheService(t *testing.T) {
	h := newHarness(t)
	id := h.submit(t)
	h.rayReports(app.AttemptStatus{State: deliberation.JobStopped})
	if r := h.status(t, id); r.Status != deliberation.StatusFailed || r.ErrorMessage != "Ray job was stopped" {
		t.Fatalf("report = %+v", r)
	}
}

// TestResultMustAnswerTheRequest: a result naming other agents than the stored request's, or
// other counts, fails the deliberation with what is wrong, whatever Ray says of the job, and is
// not recorded as its outcome.
func TestResultMustAnswerTheRequest(t *testing.T) {
	forged, err := deliberation.NewResult([]deliberation.AgentResult{
		{AgentID: "a1", Proposal: "p1", Score: 0.2}, {AgentID: "evil\x1b[2J", Proposal: "take this", Score: 1},
	}, []deliberation.AgentFailure{{AgentID: "a2", Error: "503"}}, 3, "")
	if err != nil {
		t.Fatal(err)
	}
	const mismatch = `the job's result names agents the request does not have: "evil\x1b[2J"; ` +
		`the job's result leaves out agents of the request: "a3"`
	for _, c := range []struct {
		st   app.AttemptStatus
		want string
	}{
		{app.AttemptStatus{State: deliberation.JobSucceeded}, mismatch},
		{app.AttemptStatus{State: deliberation.JobFailed, Summary: "exit code 3"}, "exit code 3: " + mismatch},
	} {
		h := newHarness(t)
		id := h.submit(t)
		h.rayReports(c.st)
		h.ray.ResultFn = func(context.Context, string) (deliberation.Result, error) { return forged, nil }
		r := h.status(t, id)
		if r.Status != deliberation.StatusFailed || r.Result != nil || r.ErrorMessage != c.want {
			t.Errorf("Ray %s: report %s %q (result %v), want failed with %q", c.st.State, r.Status, r.ErrorMessage, r.Result, c.want)
		}
		wantStats(t, h.stats(t), 1, 0, 0, 1)
	}
}

// finishingFirst is a store on which another replica finishes the deliberation between the
// status check's read of the entry and its read of the request (which the terminal transition
// drops).
type finishingFirst struct {
	*fakes.Store
	finish func()
}

func (f finishingFirst) Request(ctx context.Context, id string) (deliberation.Request, error) {
	f.finish()
	return f.Store.Request(ctx, id)
}

// TestStatusAnswersWhatFinishedMeanwhile: a status check that finds the request gone because
// another replica finished the deliberation meanwhile answers that outcome, not the stale entry.
func TestStatusAnswersWhatFinishedMeanwhile(t *testing.T) {
	h := newHarness(t)
	id := h.submit(t)
	h.rayReports(app.AttemptStatus{State: deliberation.JobSucceeded, StartTime: epoch, EndTime: epoch.Add(time.Second)})
	res := threeAgentResult(t)
	h.ray.ResultFn = func(context.Context, string) (deliberation.Result, error) { return res, nil }
	h.svc.Store = finishingFirst{Store: h.store, finish: func() {
		_, _, _ = h.store.Update(context.Background(), id, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) {
			return d.Fail("another replica's outcome", epoch)
		})
	}}
	if r := h.status(t, id); r.Status != deliberation.StatusFailed || r.ErrorMessage != "another replica's outcome" {
		t.Fatalf("report = %+v, want the outcome recorded meanwhile", r)
	}
}
