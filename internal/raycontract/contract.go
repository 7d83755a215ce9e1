package raycontract

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// Run runs the whole contract against the adapter h makes.
func Run(t *testing.T, h Harness) {
	cases := []struct {
		name string
		run  func(*testing.T, Harness, Adapter)
	}{
		{"submit is idempotent per submission id", testIdempotentSubmit},
		{"an unknown attempt is not_found", testUnknown},
		{"status moves pending, running, succeeded", testSucceeded},
		{"status moves pending, running, failed", testFailed},
		{"stop of a queued attempt", testStopQueued},
		{"stop of a running attempt", testStopRunning},
		{"stop of a terminal attempt", testStopTerminal},
		{"delete is refused while queued or running", testDeleteRefused},
		{"delete of a terminal attempt", testDeleteTerminal},
		{"list holds this service's attempts", testList},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, h, h.New(t))
		})
	}
}

func submit(t *testing.T, a Adapter) deliberation.Deliberation {
	t.Helper()
	d, req := Deliberation(t)
	if err := a.Port.Submit(context.Background(), d, req); err != nil {
		t.Fatalf("Submit %s: %v", d.SubmissionID, err)
	}
	return d
}

func status(t *testing.T, a Adapter, id string) app.AttemptStatus {
	t.Helper()
	st, err := a.Port.Status(context.Background(), id)
	if err != nil {
		t.Fatalf("Status %s: %v", id, err)
	}
	return st
}

// wantQueued checks a just-submitted attempt: PENDING, or on a real head already RUNNING.
func wantQueued(t *testing.T, h Harness, a Adapter, id string) {
	t.Helper()
	st := status(t, a, id)
	if st.State == deliberation.JobPending || h.Real && st.State == deliberation.JobRunning {
		return
	}
	t.Fatalf("status of a submitted attempt = %+v, want PENDING", st)
}

// waitState polls until the attempt is in state, within h.Within.
func waitState(t *testing.T, h Harness, a Adapter, id string, state deliberation.JobState) app.AttemptStatus {
	t.Helper()
	deadline := time.Now().Add(h.Within)
	for {
		st := status(t, a, id)
		if st.State == state {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("attempt %s is %+v after %s, want %s", id, st, h.Within, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func wantCode(t *testing.T, what string, err error, want deliberation.Code) {
	t.Helper()
	if got := deliberation.ErrorCode(err); err == nil || got != want {
		t.Fatalf("%s = %v (code %q), want %s", what, err, got, want)
	}
}

// testIdempotentSubmit: a replayed submit, even after the attempt started, is success and
// changes nothing: the attempt stays RUNNING and is listed once.
func testIdempotentSubmit(t *testing.T, h Harness, a Adapter) {
	ctx := context.Background()
	d, req := Deliberation(t)
	for range 2 {
		if err := a.Port.Submit(ctx, d, req); err != nil {
			t.Fatalf("Submit: %v", err)
		}
	}
	a.Start(t, d)
	if err := a.Port.Submit(ctx, d, req); err != nil {
		t.Fatalf("Submit of a running attempt: %v", err)
	}
	if st := status(t, a, d.SubmissionID); st.State != deliberation.JobRunning {
		t.Fatalf("status after a replayed submit = %+v, want still RUNNING", st)
	}
	listed, err := a.Port.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, at := range listed {
		if at.SubmissionID == d.SubmissionID {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the attempt is listed %d times, want once: %+v", n, listed)
	}
}

func testUnknown(t *testing.T, _ Harness, a Adapter) {
	ctx := context.Background()
	d, _ := Deliberation(t)
	id := d.SubmissionID
	_, err := a.Port.Status(ctx, id)
	wantCode(t, "Status of an unknown attempt", err, deliberation.CodeNotFound)
	_, err = a.Port.Result(ctx, id)
	wantCode(t, "Result of an unknown attempt", err, deliberation.CodeNotFound)
	wantCode(t, "Stop of an unknown attempt", a.Port.Stop(ctx, id), deliberation.CodeNotFound)
	wantCode(t, "Delete of an unknown attempt", a.Port.Delete(ctx, id), deliberation.CodeNotFound)
}

func testSucceeded(t *testing.T, h Harness, a Adapter) {
	d := submit(t, a)
	wantQueued(t, h, a, d.SubmissionID)
	a.Start(t, d)
	if st := status(t, a, d.SubmissionID); st.State != deliberation.JobRunning || st.StartTime.IsZero() {
		t.Fatalf("status of a started attempt = %+v, want RUNNING with its start time", st)
	}
	a.Finish(t, d, true)
	st := status(t, a, d.SubmissionID)
	if st.State != deliberation.JobSucceeded || st.Infrastructure || st.EndTime.Before(st.StartTime) || st.StartTime.IsZero() {
		t.Fatalf("status of a succeeded attempt = %+v", st)
	}
	res, err := a.Port.Result(context.Background(), d.SubmissionID)
	if err != nil {
		t.Fatalf("Result: %v", err)
	}
	if res.TotalAgents != 2 || res.CompletedAgents != 1 || res.BestResult == nil || res.BestResult.AgentID != "a1" ||
		len(res.Failures) != 1 || res.Failures[0].AgentID != "a2" {
		t.Fatalf("result = %+v, want a1's proposal and a2's failure", res)
	}
}

func testFailed(t *testing.T, h Harness, a Adapter) {
	d := submit(t, a)
	wantQueued(t, h, a, d.SubmissionID)
	a.Start(t, d)
	a.Finish(t, d, false)
	if st := status(t, a, d.SubmissionID); st.State != deliberation.JobFailed || st.Infrastructure {
		t.Fatalf("status of a failed attempt = %+v, want FAILED in its own code", st)
	}
}

// The port's answer to Stop: nil for an attempt the Ray side has, whatever its state, and
// not_found for one it has not (testUnknown).

func testStopQueued(t *testing.T, h Harness, a Adapter) {
	d := submit(t, a)
	for range 2 {
		if err := a.Port.Stop(context.Background(), d.SubmissionID); err != nil {
			t.Fatalf("Stop of a queued attempt: %v", err)
		}
	}
	if st := status(t, a, d.SubmissionID); st.State == deliberation.JobSucceeded || st.State == deliberation.JobFailed {
		t.Fatalf("a stopped attempt ended %+v", st)
	}
}

func testStopRunning(t *testing.T, h Harness, a Adapter) {
	d := submit(t, a)
	a.Start(t, d)
	if err := a.Port.Stop(context.Background(), d.SubmissionID); err != nil {
		t.Fatalf("Stop of a running attempt: %v", err)
	}
	waitState(t, h, a, d.SubmissionID, deliberation.JobStopped)
}

func testStopTerminal(t *testing.T, h Harness, a Adapter) {
	d := submit(t, a)
	a.Start(t, d)
	a.Finish(t, d, true)
	if err := a.Port.Stop(context.Background(), d.SubmissionID); err != nil {
		t.Fatalf("Stop of an ended attempt: %v", err)
	}
	if st := status(t, a, d.SubmissionID); st.State != deliberation.JobSucceeded {
		t.Fatalf("status after a stop of a succeeded attempt = %+v, want it unchanged", st)
	}
}

func testDeleteRefused(t *testing.T, h Harness, a Adapter) {
	d := submit(t, a)
	if !h.Real {
		wantCode(t, "Delete of a queued attempt", a.Port.Delete(context.Background(), d.SubmissionID), deliberation.CodeConflict)
	}
	a.Start(t, d)
	wantCode(t, "Delete of a running attempt", a.Port.Delete(context.Background(), d.SubmissionID), deliberation.CodeConflict)
	status(t, a, d.SubmissionID)
}

func testDeleteTerminal(t *testing.T, h Harness, a Adapter) {
	ctx := context.Background()
	d := submit(t, a)
	a.Start(t, d)
	a.Finish(t, d, false)
	if err := a.Port.Delete(ctx, d.SubmissionID); err != nil {
		t.Fatalf("Delete of an ended attempt: %v", err)
	}
	_, err := a.Port.Status(ctx, d.SubmissionID)
	wantCode(t, "Status of a deleted attempt", err, deliberation.CodeNotFound)
	listed, err := a.Port.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(listed, func(at app.Attempt) bool { return at.SubmissionID == d.SubmissionID }) {
		t.Fatalf("a deleted attempt is still listed: %+v", listed)
	}
}

// testList: List holds every attempt of this service, with its deliberation and status, and
// drops a deleted one.
func testList(t *testing.T, h Harness, a Adapter) {
	ctx := context.Background()
	queued, running, ended := submit(t, a), submit(t, a), submit(t, a)
	a.Start(t, running)
	a.Start(t, ended)
	a.Finish(t, ended, true)
	listed, err := a.Port.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]deliberation.Deliberation{queued.SubmissionID: queued, running.SubmissionID: running, ended.SubmissionID: ended}
	states := map[string]deliberation.JobState{running.SubmissionID: deliberation.JobRunning, ended.SubmissionID: deliberation.JobSucceeded}
	seen := map[string]bool{}
	for _, at := range listed {
		d, ok := want[at.SubmissionID]
		if !ok {
			t.Fatalf("List holds %+v, which this port never submitted", at)
		}
		seen[at.SubmissionID] = true
		if at.DeliberationID != d.ID {
			t.Fatalf("attempt %s listed for deliberation %q, want %q", at.SubmissionID, at.DeliberationID, d.ID)
		}
		if st, ok := states[at.SubmissionID]; ok && at.Status.State != st {
			t.Fatalf("attempt %s listed %s, want %s", at.SubmissionID, at.Status.State, st)
		}
	}
	if len(seen) != 3 {
		t.Fatalf("List holds %d of the 3 attempts: %+v", len(seen), listed)
	}
	if err := a.Port.Delete(ctx, ended.SubmissionID); err != nil {
		t.Fatal(err)
	}
	if listed, err = a.Port.List(ctx); err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(listed, func(at app.Attempt) bool { return at.SubmissionID == ended.SubmissionID }) || len(listed) != 2 {
		t.Fatalf("after the delete, List = %+v, want the queued and the running attempt", listed)
	}
}
