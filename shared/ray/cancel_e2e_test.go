package ray_test

import (
	"context"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/fakes/modelserver"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// cancelWhenRunning waits until id runs and its agent's model has been called, then cancels it:
// the cancel is recorded and answers cancelled.
func (e *e2e) cancelWhenRunning(t *testing.T, id, model string, within time.Duration) app.StatusReport {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(within); ; time.Sleep(100 * time.Millisecond) {
		r, err := e.svc.Status(ctx, id)
		if err == nil && r.Status.Terminal() {
			t.Fatalf("deliberation %s ended %s before the cancel", id, r.Status)
		}
		if err == nil && r.Status == deliberation.StatusRunning && len(e.model.RequestsFor(model)) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliberation %s not running within %v (last %+v, %v)", id, within, r, err)
		}
	}
	res, err := e.svc.Cancel(ctx, id, "story dropped")
	if err != nil || res.Outcome != app.CancelRecorded || res.Report.Status != deliberation.StatusCancelled {
		t.Fatalf("Cancel = %+v, %v; want recorded and cancelled", res, err)
	}
	return res.Report
}

// wantStaysCancelled polls the status (which also runs the checks a poll triggers) for a while:
// whatever Ray reports after the cancel changes nothing, and the cancel is counted once.
func (e *e2e) wantStaysCancelled(t *testing.T, id string, span time.Duration) {
	t.Helper()
	for end := time.Now().Add(span); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		r, err := e.svc.Status(context.Background(), id)
		if err != nil || r.Status != deliberation.StatusCancelled || r.Reason != "story dropped" || r.CancelledAt == nil {
			t.Fatalf("status after the cancel = %+v, %v; want cancelled with its reason", r, err)
		}
	}
	e.wantStats(t, 1, 0, 0, 0, 1)
}

// TestEndToEndCancelWhileRunning: a running job is stopped on Ray within seconds of its cancel.
func TestEndToEndCancelWhileRunning(t *testing.T) {
	t.Parallel()
	e := newE2E(t, nil)
	e.model.SetBehavior("m-slow", modelserver.Behavior{Delay: time.Minute})
	id := e.execute(t, e.input(120, 0, deliberation.AgentConfig{AgentID: "a1", Role: "DEV", Model: "m-slow"}))
	r := e.cancelWhenRunning(t, id, "m-slow", 150*time.Second)
	cancelled := time.Now()
	ctx := context.Background()
	for deadline := cancelled.Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		j, err := e.cluster.Client().Get(ctx, r.SubmissionID)
		if err != nil {
			t.Fatalf("get %s: %v", r.SubmissionID, err)
		}
		if j.Status.Terminal() {
			t.Logf("job %s %s %s after the cancel", r.SubmissionID, j.Status, time.Since(cancelled).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s 10 s after the cancel", r.SubmissionID, j.Status)
		}
	}
	jobs, err := e.cluster.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if j.DeliberationID == id && !j.Status.State.Terminal() {
			t.Fatalf("Ray still has job %s of %s %s", j.SubmissionID, id, j.Status.State)
		}
	}
	e.wantStaysCancelled(t, id, 2*time.Second)
}

// TestServeEndToEndCancelWhileRunning: a running deliberation's agent tasks are cancelled: its
// agent, which fails slowly and would be retried, calls the model no more once the cancel settles.
func TestServeEndToEndCancelWhileRunning(t *testing.T) {
	t.Parallel()
	e := newServeE2E(t)
	e.model.SetBehavior("m-flaky", modelserver.Behavior{Delay: 2 * time.Second, FailStatus: 503})
	id := e.execute(t, e.input(120, 10, deliberation.AgentConfig{AgentID: "a1", Role: "DEV", Model: "m-flaky"}))
	e.cancelWhenRunning(t, id, "m-flaky", 60*time.Second)
	time.Sleep(time.Second) // the runner sees the attempt stopped and cancels its tasks
	before := len(e.model.Requests())
	// Uncancelled, the agent's call in flight fails within 2 s and is retried within 0.5 s more.
	e.wantStaysCancelled(t, id, 4*time.Second)
	if after := len(e.model.Requests()); after != before {
		t.Fatalf("the model server got %d calls after the cancel settled (%d before)", after-before, before)
	}
	if len(e.model.JudgeRequests()) != 0 {
		t.Fatal("the judge was called for a cancelled deliberation")
	}
	e.events.want(t, id, deliberation.TypeSubmitted, deliberation.TypeStarted, deliberation.TypeCancelled)
}
