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

func TestExecuteHappyPath(t *testing.T) {
	h := newHarness(t)
	sub, err := h.svc.Execute(context.Background(), app.ExecuteCommand{Input: input()})
	if err != nil {
		t.Fatal(err)
	}
	if sub.Status != deliberation.StatusSubmitted || sub.Message != app.MessageSubmitted || sub.Replayed || sub.TaskID != "task-1" {
		t.Fatalf("submission = %+v", sub)
	}
	if got := h.ray.Calls("Submit"); !slices.Equal(got, []string{sub.DeliberationID}) {
		t.Fatalf("Ray submissions = %v, want one under the deliberation id", got)
	}
	if got := h.events.Published(); !slices.Equal(got, []string{sub.DeliberationID + ".submitted"}) {
		t.Fatalf("events = %v", got)
	}
	if err := h.svc.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	d, _ := h.store.Get(context.Background(), sub.DeliberationID)
	if !d.OnRay || d.Status != deliberation.StatusSubmitted {
		t.Fatalf("entry = %+v, want submitted and on Ray", d)
	}
	wantStats(t, h.stats(t), 1, 1, 0, 0)
}

// slowStore holds every UpdateFrom until release is closed.
type slowStore struct {
	*fakes.Store
	release chan struct{}
}

func (s slowStore) UpdateFrom(ctx context.Context, known deliberation.Deliberation, change app.Change) (deliberation.Deliberation, bool, error) {
	<-s.release
	return s.Store.UpdateFrom(ctx, known, change)
}

// TestExecuteAnswersBeforeRecordingAcceptance: once Ray holds the job, the answer does not wait
// for the store to record it, and Wait (called at shutdown) lets that record finish.
func TestExecuteAnswersBeforeRecordingAcceptance(t *testing.T) {
	h := newHarness(t)
	slow := slowStore{h.store, make(chan struct{})}
	h.svc.Store = slow
	ctx := context.Background()
	sub, err := h.svc.Execute(ctx, app.ExecuteCommand{Input: input()})
	if err != nil || sub.Message != app.MessageSubmitted {
		t.Fatalf("Execute = %+v, %v", sub, err)
	}
	if d, _ := h.store.Get(ctx, sub.DeliberationID); d.OnRay {
		t.Fatal("acceptance recorded before the answer, though the store was held")
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := h.svc.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with the record still held = %v, want the deadline", err)
	}
	close(slow.release)
	if err := h.svc.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if d, _ := h.store.Get(ctx, sub.DeliberationID); !d.OnRay {
		t.Fatal("acceptance not recorded after Wait")
	}
}

func TestExecuteWithoutEventPublisher(t *testing.T) {
	h := newHarness(t)
	h.svc.Events = nil
	id := h.submit(t)
	h.rayReports(app.AttemptStatus{State: deliberation.JobRunning})
	if r := h.status(t, id); r.Status != deliberation.StatusRunning {
		t.Fatalf("status = %s", r.Status)
	}
}

// TestExecuteWhenEventsFailStillSucceeds: the event waits in the outbox and the next reconcile
// pass delivers it, once.
func TestExecuteWhenEventsFailStillSucceeds(t *testing.T) {
	h := newHarness(t)
	h.events.Err = errors.New("nats down")
	sub, err := h.svc.Execute(context.Background(), app.ExecuteCommand{Input: input()})
	if err != nil {
		t.Fatalf("Execute failed because of events: %v", err)
	}
	if got := h.events.Published(); len(got) != 0 {
		t.Fatalf("events = %v published while the bus was down", got)
	}
	h.events.Err = nil
	for range 2 {
		if _, err := h.svc.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := h.events.Published(); !slices.Equal(got, []string{sub.DeliberationID + ".submitted"}) {
		t.Fatalf("events after the bus came back = %v, want the submitted event once", got)
	}
}

// TestExecuteWhenRayFails: durable acceptance. The entry stays active, to be submitted later.
func TestExecuteWhenRayFails(t *testing.T) {
	h := newHarness(t)
	h.ray.SubmitFn = func(context.Context, deliberation.Deliberation, deliberation.Request) error {
		return deliberation.Unavailable(errors.New("connection refused"), "ray unavailable")
	}
	sub, err := h.svc.Execute(context.Background(), app.ExecuteCommand{Input: input()})
	if err != nil {
		t.Fatal(err)
	}
	if sub.Status != deliberation.StatusSubmitted || sub.Message != app.MessageQueued {
		t.Fatalf("submission = %+v, want the queued message", sub)
	}
	d, err := h.store.Get(context.Background(), sub.DeliberationID)
	if err != nil || d.OnRay || d.Status.Terminal() {
		t.Fatalf("entry = %+v, %v; want active and not on Ray", d, err)
	}
	wantStats(t, h.stats(t), 1, 1, 0, 0)
}

func TestExecuteWhenStoreFails(t *testing.T) {
	h := newHarness(t)
	h.store.SetErr(errors.New("redis down"))
	_, err := h.svc.Execute(context.Background(), app.ExecuteCommand{Input: input()})
	if deliberation.ErrorCode(err) != deliberation.CodeUnavailable {
		t.Fatalf("error = %v, want unavailable", err)
	}
	if len(h.ray.Calls("Submit")) != 0 || len(h.events.Published()) != 0 {
		t.Fatal("Ray or events were called although nothing was recorded")
	}
	h.store.SetErr(nil)
	wantStats(t, h.stats(t), 0, 0, 0, 0)
}

func TestExecuteValidationChangesNothing(t *testing.T) {
	h := newHarness(t)
	in := input()
	in.Agents = nil
	in.TaskID = ""
	_, err := h.svc.Execute(context.Background(), app.ExecuteCommand{Input: in})
	var e *deliberation.Error
	if !errors.As(err, &e) || e.Code != deliberation.CodeInvalid || len(e.Fields) != 2 {
		t.Fatalf("error = %v, want 2 field problems", err)
	}
	wantStats(t, h.stats(t), 0, 0, 0, 0)
}

func TestExecuteIdempotencyKey(t *testing.T) {
	h := newHarness(t)
	cmd := app.ExecuteCommand{Input: input(), IdempotencyKey: "order-42"}
	first, err := h.svc.Execute(context.Background(), cmd)
	if err != nil || first.Replayed || first.DeliberationID == deliberation.IDFromKey("order-42") {
		t.Fatalf("first = %+v, %v", first, err)
	}
	again, err := h.svc.Execute(context.Background(), cmd)
	if err != nil || !again.Replayed || again.DeliberationID != first.DeliberationID {
		t.Fatalf("replay = %+v, %v; want the first id, replayed", again, err)
	}
	other := cmd
	other.Input.TaskDescription = "something else"
	if _, err := h.svc.Execute(context.Background(), other); deliberation.ErrorCode(err) != deliberation.CodeConflict {
		t.Fatalf("other body error = %v, want conflict", err)
	}
	bad := cmd
	bad.IdempotencyKey = "tab\tkey"
	if _, err := h.svc.Execute(context.Background(), bad); deliberation.ErrorCode(err) != deliberation.CodeInvalid {
		t.Fatalf("bad key error = %v, want invalid", err)
	}
	if n := len(h.ray.Calls("Submit")); n != 1 {
		t.Fatalf("%d Ray submissions, want 1", n)
	}
	wantStats(t, h.stats(t), 1, 1, 0, 0)
}

func TestExecuteAdmissionLimit(t *testing.T) {
	h := newHarness(t)
	h.svc.Settings.MaxActive = 1
	h.submit(t)
	if _, err := h.svc.Execute(context.Background(), app.ExecuteCommand{Input: input()}); deliberation.ErrorCode(err) != deliberation.CodeTooMany {
		t.Fatalf("error = %v, want too_many", err)
	}
	wantStats(t, h.stats(t), 1, 1, 0, 0)
}
