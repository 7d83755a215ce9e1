package deliberation

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newEntry(t *testing.T) Deliberation {
	t.Helper()
	req, err := NewRequest(validInput(), open)
	if err != nil {
		t.Fatal(err)
	}
	return New(IDFromKey("x"), req, t0)
}

func TestLifecycle(t *testing.T) {
	d := newEntry(t)
	if d.Status != StatusSubmitted || d.Attempts != 1 || d.MaxAttempts != 4 || d.SubmissionID != d.ID || !d.Deadline.Equal(t0.Add(300*time.Second)) {
		t.Fatalf("new entry = %+v", d)
	}
	running, ok := d.Running(t0.Add(time.Second))
	if !ok || running.Status != StatusRunning || !running.StartedAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("Running = %+v, %v", running, ok)
	}
	if _, ok := running.Running(t0.Add(2 * time.Second)); ok {
		t.Fatal("a second Running changed the entry")
	}
	res, err := NewResult([]AgentResult{{AgentID: "a1", Proposal: "p", Score: 0.5}}, []AgentFailure{{AgentID: "a2", Error: "503"}}, 2, "")
	if err != nil {
		t.Fatal(err)
	}
	done, ok := running.Complete(res, 1200, t0.Add(3*time.Second))
	if !ok || done.Status != StatusCompleted || done.ExecutionTimeMS != 1200 || done.FinishedAt.IsZero() {
		t.Fatalf("Complete = %+v, %v", done, ok)
	}
	for _, change := range []func(Deliberation) (Deliberation, bool){
		func(d Deliberation) (Deliberation, bool) { return d.Fail("x", t0) },
		func(d Deliberation) (Deliberation, bool) { return d.Complete(res, 1, t0) },
		func(d Deliberation) (Deliberation, bool) { return d.Running(t0) },
		func(d Deliberation) (Deliberation, bool) { return d.NextAttempt(t0) },
		func(d Deliberation) (Deliberation, bool) { return d.TimedOut(t0.Add(time.Hour)) },
	} {
		if after, ok := change(done); ok || after.Status != StatusCompleted {
			t.Fatal("a terminal entry changed")
		}
	}
}

func TestNoProposalIsFailed(t *testing.T) {
	res, err := NewResult(nil, []AgentFailure{{AgentID: "a1", Error: "model server answered 503 after 4 attempts"}}, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	d, _ := newEntry(t).Complete(res, 10, t0)
	if d.Status != StatusFailed || d.ErrorMessage != "no agent produced a proposal (a1: model server answered 503 after 4 attempts)" {
		t.Fatalf("entry = %s %q", d.Status, d.ErrorMessage)
	}
}

func TestRetriesAndTimeout(t *testing.T) {
	d := newEntry(t)
	for i := 2; i <= 4; i++ {
		var ok bool
		if d, ok = d.NextAttempt(t0); !ok || d.Attempts != i || d.SubmissionID != SubmissionID(d.ID, i) {
			t.Fatalf("attempt %d: %+v", i, d)
		}
	}
	if _, ok := d.NextAttempt(t0); ok || d.CanRetry() {
		t.Fatal("more than 1 + max_retries attempts")
	}
	if _, ok := d.TimedOut(t0.Add(299 * time.Second)); ok {
		t.Fatal("timed out before the deadline")
	}
	out, ok := d.TimedOut(t0.Add(301 * time.Second))
	if !ok || out.Status != StatusFailed || out.ErrorMessage != "timed out after 300 s" {
		t.Fatalf("TimedOut = %s %q", out.Status, out.ErrorMessage)
	}
	stopped, _ := newEntry(t).MarkStopping(t0)
	if stopped.CanRetry() {
		t.Fatal("a job the service stopped may be retried")
	}
}

func TestEventsAndDeltas(t *testing.T) {
	d := newEntry(t)
	names := func(es []LifecycleEvent) (s []string) {
		for _, e := range es {
			s = append(s, e.ID())
		}
		return s
	}
	if got := names(Events(Deliberation{}, d)); len(got) != 1 || got[0] != d.ID+".submitted" {
		t.Fatalf("creation events = %v", got)
	}
	r, _ := d.Running(t0)
	if got := names(Events(d, r)); len(got) != 1 || got[0] != d.ID+".started" {
		t.Fatalf("running events = %v", got)
	}
	retry, _ := r.NextAttempt(t0)
	r2, _ := retry.Running(t0)
	if got := names(Events(retry, r2)); len(got) != 1 || got[0] != d.ID+"-a2.started" {
		t.Fatalf("retry started = %v, want its own id", got)
	}
	f, _ := r2.Fail("x", t0)
	if got := names(Events(r2, f)); len(got) != 1 || got[0] != d.ID+"-a2.failed" {
		t.Fatalf("failed events = %v", got)
	}
	if Events(f, f) != nil && len(Events(f, f)) != 0 {
		t.Fatal("no transition must cause no event")
	}
	if delta := DeltaOf(r2, f); delta != (StatsDelta{Active: -1, Failed: 1}) {
		t.Fatalf("fail delta = %+v", delta)
	}
	if delta := DeltaOf(Deliberation{}, d); delta != (StatsDelta{Total: 1, Active: 1}) {
		t.Fatalf("create delta = %+v", delta)
	}
	if delta := DeltaOf(f, f); delta != (StatsDelta{}) {
		t.Fatalf("terminal delta = %+v", delta)
	}
}
