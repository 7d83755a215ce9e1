package app_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

func TestCancelAnswers(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.submit(t)
	h.clock.Advance(time.Second)
	res, err := h.svc.Cancel(ctx, id, "story dropped")
	if err != nil || res.Outcome != app.CancelRecorded || res.Report.Status != deliberation.StatusCancelled ||
		res.Report.Reason != "story dropped" || res.Report.CancelledAt == nil {
		t.Fatalf("first cancel = %+v, %v", res, err)
	}
	if stops := h.ray.Calls("Stop"); len(stops) != 1 || stops[0] != id {
		t.Fatalf("Ray stops = %v, want the current attempt once", stops)
	}
	if ids, _ := h.store.Stopping(ctx, "", 10); len(ids) != 0 {
		t.Fatalf("stop index = %v after a stop Ray accepted", ids)
	}
	st := h.stats(t)
	if st.ActiveDeliberations != 0 || st.CancelledDeliberations != 1 || st.Consistent() != nil {
		t.Fatalf("stats after cancel = %+v", st)
	}
	if again, err := h.svc.Cancel(ctx, id, "again"); err != nil || again.Outcome != app.CancelAlready || again.Report.Reason != "story dropped" {
		t.Fatalf("second cancel = %+v, %v", again, err)
	}
	if r := h.status(t, id); r.Status != deliberation.StatusCancelled {
		t.Fatalf("status after cancel = %s", r.Status)
	}
	if unknown, err := h.svc.Cancel(ctx, deliberation.IDFromKey("unknown"), ""); err != nil || unknown.Outcome != app.CancelNotFound {
		t.Fatalf("cancel unknown = %+v, %v", unknown, err)
	}
	if _, err := h.svc.Cancel(ctx, "bad id", ""); deliberation.ErrorCode(err) != deliberation.CodeInvalid {
		t.Fatalf("cancel bad id: %v", err)
	}
	for _, bad := range []string{"a\x00b", "\x1b[31m", strings.Repeat("x", deliberation.MaxCancelReasonBytes+1), "\xff"} {
		if _, err := h.svc.Cancel(ctx, id, bad); deliberation.ErrorCode(err) != deliberation.CodeInvalid {
			t.Fatalf("cancel with reason %q: %v, want invalid", bad, err)
		}
	}
	events := h.events.Published()
	if strings.Join(events, ",") != id+".submitted,"+id+".cancelled" {
		t.Fatalf("events = %v", events)
	}
}

func TestCancelAfterCompletionConflicts(t *testing.T) {
	h := newHarness(t)
	id := h.submit(t)
	res := threeAgentResult(t)
	h.rayReports(app.AttemptStatus{State: deliberation.JobSucceeded})
	h.ray.ResultFn = func(context.Context, string) (deliberation.Result, error) { return res, nil }
	if r := h.status(t, id); r.Status != deliberation.StatusCompleted {
		t.Fatalf("status = %s", r.Status)
	}
	got, err := h.svc.Cancel(context.Background(), id, "")
	if err != nil || got.Outcome != app.CancelConflict || got.Report.Status != deliberation.StatusCompleted {
		t.Fatalf("cancel after completion = %+v, %v", got, err)
	}
	if st := h.stats(t); st.CompletedDeliberations != 1 || st.CancelledDeliberations != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

// What Ray reports after a cancel changes nothing: the entry is terminal.
func TestCancelIgnoresLaterOutcome(t *testing.T) {
	h := newHarness(t)
	id := h.submit(t)
	if _, err := h.svc.Cancel(context.Background(), id, ""); err != nil {
		t.Fatal(err)
	}
	res := threeAgentResult(t)
	h.rayReports(app.AttemptStatus{State: deliberation.JobSucceeded})
	h.ray.ResultFn = func(context.Context, string) (deliberation.Result, error) { return res, nil }
	h.clock.Advance(time.Hour)
	if r := h.status(t, id); r.Status != deliberation.StatusCancelled {
		t.Fatalf("status = %s", r.Status)
	}
	if _, err := h.svc.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := h.stats(t); st.CancelledDeliberations != 1 || st.CompletedDeliberations != 0 || st.FailedDeliberations != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

// A cancel whose Ray stop failed (Ray down, or a crash right after the transition) stays in the
// stop index; the reconcile pass stops it.
func TestReconcileFinishesStoppingACancel(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.submit(t)
	h.ray.StopFn = func(context.Context, string) error {
		return deliberation.Unavailable(errors.New("down"), "ray unavailable")
	}
	if res, err := h.svc.Cancel(ctx, id, ""); err != nil || res.Outcome != app.CancelRecorded {
		t.Fatalf("cancel = %+v, %v", res, err)
	}
	if ids, _ := h.store.Stopping(ctx, "", 10); len(ids) != 1 {
		t.Fatalf("stop index = %v, want the cancel", ids)
	}
	h.ray.StopFn = nil
	if _, err := h.svc.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if stops := h.ray.Calls("Stop"); len(stops) != 2 {
		t.Fatalf("Ray stops = %v, want the failed one and the pass's", stops)
	}
	if ids, _ := h.store.Stopping(ctx, "", 10); len(ids) != 0 {
		t.Fatalf("stop index = %v after the pass", ids)
	}
}

// A cancel that lands between execute's record and its Ray submission: the submission sees the
// entry cancelled and stops what it just handed to Ray.
func TestSubmitAfterCancelStops(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	cancelled := make(chan struct{})
	h.ray.SubmitFn = func(_ context.Context, d deliberation.Deliberation, _ deliberation.Request) error {
		if _, err := h.svc.Cancel(ctx, d.ID, ""); err != nil {
			t.Error(err)
		}
		close(cancelled)
		return nil
	}
	id := h.submit(t)
	<-cancelled
	if r := h.status(t, id); r.Status != deliberation.StatusCancelled {
		t.Fatalf("status = %s", r.Status)
	}
	if stops := h.ray.Calls("Stop"); len(stops) < 2 {
		t.Fatalf("Ray stops = %v, want the cancel's and the submission's", stops)
	}
}
