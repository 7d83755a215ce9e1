package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rayexecutor/functions/internal/fakes"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// withBacklog gives h's service a runners' queue whose lag the test sets, bounded at bound.
func withBacklog(h *harness, bound int64) *fakes.Backlog {
	b := &fakes.Backlog{}
	h.svc.Backlog = b
	h.svc.Settings.MaxQueueLag = bound
	return b
}

// wantNothingChanged checks that a refused execute left no trace: no entry, no count, no event,
// no attempt handed to Ray.
func wantNothingChanged(t *testing.T, h *harness) {
	t.Helper()
	if page, _, err := h.store.Active(context.Background(), "", 10); err != nil || len(page) != 0 {
		t.Fatalf("active entries after a refusal: %v, %v", page, err)
	}
	wantStats(t, h.stats(t), 0, 0, 0, 0)
	if got := h.events.Published(); len(got) != 0 {
		t.Fatalf("events after a refusal: %v", got)
	}
	if got := h.ray.Calls("Submit"); len(got) != 0 {
		t.Fatalf("Ray submissions after a refusal: %v", got)
	}
}

// TestExecuteRefusedAtQueueLag: at the bound execute refuses with too_many and changes nothing,
// with or without an idempotency key; below it, execute accepts.
func TestExecuteRefusedAtQueueLag(t *testing.T) {
	h := newHarness(t)
	backlog := withBacklog(h, 3)
	backlog.Set(3, nil)
	ctx := context.Background()
	for _, key := range []string{"", "order-42"} {
		_, err := h.svc.Execute(ctx, app.ExecuteCommand{Input: input(), IdempotencyKey: key})
		if deliberation.ErrorCode(err) != deliberation.CodeTooMany {
			t.Fatalf("execute (key %q) at the bound: %v, want too_many", key, err)
		}
		h.clock.Advance(h.svc.Settings.LagFresh)
	}
	wantNothingChanged(t, h)

	backlog.Set(2, nil)
	if _, err := h.svc.Execute(ctx, app.ExecuteCommand{Input: input(), IdempotencyKey: "order-42"}); err != nil {
		t.Fatalf("execute below the bound: %v", err)
	}
	wantStats(t, h.stats(t), 1, 1, 0, 0)
}

// TestExecuteAtQueueLagStillReplays: a key already accepted answers its replay (or conflict)
// whatever the lag, as for the active limit.
func TestExecuteAtQueueLagStillReplays(t *testing.T) {
	h := newHarness(t)
	backlog := withBacklog(h, 1)
	ctx := context.Background()
	cmd := app.ExecuteCommand{Input: input(), IdempotencyKey: "order-7"}
	first, err := h.svc.Execute(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	backlog.Set(5, nil)
	h.clock.Advance(h.svc.Settings.LagFresh)
	again, err := h.svc.Execute(ctx, cmd)
	if err != nil || !again.Replayed || again.DeliberationID != first.DeliberationID {
		t.Fatalf("replay at the bound = %+v, %v; want the first deliberation replayed", again, err)
	}
	other := cmd
	other.Input.TaskDescription = "something else"
	if _, err := h.svc.Execute(ctx, other); deliberation.ErrorCode(err) != deliberation.CodeConflict {
		t.Fatalf("reused key at the bound: %v, want conflict", err)
	}
	if _, err := h.svc.Execute(ctx, app.ExecuteCommand{Input: input(), IdempotencyKey: "order-8"}); deliberation.ErrorCode(err) != deliberation.CodeTooMany {
		t.Fatalf("new key at the bound: %v, want too_many", err)
	}
	wantStats(t, h.stats(t), 1, 1, 0, 0)
}

// TestQueueLagReadingExpires: one reading answers the executes of LagFresh, then the next execute
// reads again.
func TestQueueLagReadingExpires(t *testing.T) {
	h := newHarness(t)
	backlog := withBacklog(h, 1)
	backlog.Set(1, nil)
	ctx := context.Background()
	for range 3 {
		if _, err := h.svc.Execute(ctx, app.ExecuteCommand{Input: input()}); deliberation.ErrorCode(err) != deliberation.CodeTooMany {
			t.Fatalf("execute: %v, want too_many", err)
		}
	}
	backlog.Set(0, nil) // the runners caught up; this instance learns it once its reading expires
	h.clock.Advance(h.svc.Settings.LagFresh - 1)
	if _, err := h.svc.Execute(ctx, app.ExecuteCommand{Input: input()}); deliberation.ErrorCode(err) != deliberation.CodeTooMany {
		t.Fatalf("execute within the reading's life: %v, want too_many", err)
	}
	if n := backlog.Reads(); n != 1 {
		t.Fatalf("%d lag reads for 4 executes within %v, want 1", n, h.svc.Settings.LagFresh)
	}
	h.clock.Advance(1)
	if _, err := h.svc.Execute(ctx, app.ExecuteCommand{Input: input()}); err != nil {
		t.Fatalf("execute once the reading expired: %v", err)
	}
	if n := backlog.Reads(); n != 2 {
		t.Fatalf("%d lag reads, want 2", n)
	}
}

// TestQueueLagUnboundedOrUnread: no bound (0) or no queue (the jobs dispatch) reads nothing; a
// lag that cannot be read admits.
func TestQueueLagUnboundedOrUnread(t *testing.T) {
	h := newHarness(t)
	backlog := withBacklog(h, 0)
	backlog.Set(1<<40, nil)
	h.submit(t)
	if n := backlog.Reads(); n != 0 {
		t.Fatalf("%d lag reads without a bound", n)
	}
	h.svc.Settings.MaxQueueLag = 1
	backlog.Set(0, deliberation.Unavailable(errors.New("connection refused"), "the runners' queue is unavailable"))
	h.submit(t)
	h.svc.Backlog = nil
	h.submit(t)
	wantStats(t, h.stats(t), 3, 3, 0, 0)
}
