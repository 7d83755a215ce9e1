package rayjobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/fakes/modelserver"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// TestEndToEndCancelWhileRunning: a running job is stopped on Ray within seconds of its cancel.
func TestEndToEndCancelWhileRunning(t *testing.T) {
	t.Parallel()
	e := newE2E(t, nil)
	e.Model.SetBehavior("m-slow", modelserver.Behavior{Delay: time.Minute})
	id := e.execute(t, e.Input(120, 0, deliberation.AgentConfig{AgentID: "a1", Role: "DEV", Model: "m-slow"}))
	r := e.CancelWhenRunning(t, id, "m-slow", 150*time.Second)
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
	e.WantStaysCancelled(t, id, 2*time.Second)
}
