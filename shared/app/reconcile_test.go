package app_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

func TestReconcileSubmitsWhatWaitedForRay(t *testing.T) {
	h := newHarness(t)
	rayDown := true
	h.ray.SubmitFn = func(context.Context, deliberation.Deliberation, deliberation.Request) error {
		if rayDown {
			return deliberation.Unavailable(errors.New("refused"), "ray unavailable")
		}
		return nil
	}
	h.ray.StatusFn = func(context.Context, string) (app.JobStatus, error) {
		if rayDown {
			return app.JobStatus{}, deliberation.Unavailable(errors.New("refused"), "ray unavailable")
		}
		return app.JobStatus{}, deliberation.Errorf(deliberation.CodeNotFound, "no such job")
	}
	ids := []string{h.submit(t), h.submit(t)}
	h.clock.Advance(10 * time.Second)
	if _, err := h.svc.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(h.ray.Calls("Submit")); n != 2 {
		t.Fatalf("%d submissions while Ray was down, want only the 2 first tries", n)
	}
	rayDown = false
	if _, err := h.svc.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		d, _ := h.store.Get(context.Background(), id)
		if !d.OnRay {
			t.Fatalf("%s not submitted after Ray came back", id)
		}
	}
}

func TestReconcileFinishesUnpolledAndExpires(t *testing.T) {
	h := newHarness(t)
	res := threeAgentResult(t)
	done, late := h.submit(t), h.submit(t)
	h.ray.StatusFn = func(_ context.Context, id string) (app.JobStatus, error) {
		if id == done {
			return app.JobStatus{State: deliberation.JobSucceeded, StartTime: epoch, EndTime: epoch.Add(time.Second)}, nil
		}
		return app.JobStatus{State: deliberation.JobRunning}, nil
	}
	h.ray.ResultFn = func(context.Context, string) (deliberation.Result, error) { return res, nil }
	report, err := h.svc.Reconcile(context.Background())
	if err != nil || report.Checked != 2 || report.Changed != 2 {
		t.Fatalf("report = %+v, %v", report, err)
	}
	h.clock.Advance(10 * time.Minute)
	if _, err := h.svc.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := h.status(t, late); r.Status != deliberation.StatusFailed || !strings.HasPrefix(r.ErrorMessage, "timed out after") {
		t.Fatalf("late = %+v", r)
	}
	wantStats(t, h.stats(t), 2, 0, 1, 1)
}

// TestConcurrentReconcilesMatchOne: ten passes at once over 200 deliberations count and publish
// exactly what one pass does.
func TestConcurrentReconcilesMatchOne(t *testing.T) {
	run := func(passes int) (deliberation.ExecutionStats, []string) {
		h := newHarness(t)
		h.svc.Settings.MaxActive = 0
		res := threeAgentResult(t)
		for range 200 {
			h.submit(t)
		}
		h.ray.StatusFn = func(_ context.Context, id string) (app.JobStatus, error) {
			if id[len(id)-1]%2 == 0 {
				return app.JobStatus{State: deliberation.JobSucceeded}, nil
			}
			return app.JobStatus{State: deliberation.JobFailed, Summary: "exit 1"}, nil
		}
		h.ray.ResultFn = func(context.Context, string) (deliberation.Result, error) { return res, nil }
		var wg sync.WaitGroup
		for range passes {
			wg.Go(func() {
				if _, err := h.svc.Reconcile(context.Background()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		events := h.events.Published()
		slices.Sort(events)
		return h.stats(t), events
	}
	oneStats, oneEvents := run(1)
	tenStats, tenEvents := run(10)
	if oneStats != tenStats || !slices.Equal(oneEvents, tenEvents) {
		t.Fatalf("one pass: %+v, %d events; ten passes: %+v, %d events", oneStats, len(oneEvents), tenStats, len(tenEvents))
	}
	wantStats(t, tenStats, 200, 0, oneStats.CompletedDeliberations, oneStats.FailedDeliberations)
	if len(tenEvents) != 400 {
		t.Fatalf("%d events, want 200 submitted + 200 terminal", len(tenEvents))
	}
}

func TestWakeRecordsOnlyWhatRaySays(t *testing.T) {
	h := newHarness(t)
	h.svc.Settings.WakeWait = 300 * time.Millisecond
	id := h.submit(t)
	if err := h.svc.Wake(context.Background(), deliberation.IDFromKey("forged")); err != nil {
		t.Fatalf("unknown id: %v", err)
	}
	if err := h.svc.Wake(context.Background(), "../../etc"); err != nil {
		t.Fatalf("malformed id: %v", err)
	}
	h.rayReports(app.JobStatus{State: deliberation.JobRunning})
	start := time.Now()
	if err := h.svc.Wake(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 250*time.Millisecond || waited > 2*time.Second {
		t.Fatalf("waited %v for a running job, want about WakeWait", waited)
	}
	if d, _ := h.store.Get(context.Background(), id); d.Status != deliberation.StatusSubmitted {
		t.Fatalf("a wake-up for a running job changed the entry to %s", d.Status)
	}
	res := threeAgentResult(t)
	h.rayReports(app.JobStatus{State: deliberation.JobSucceeded})
	h.ray.ResultFn = func(context.Context, string) (deliberation.Result, error) { return res, nil }
	time.Sleep(350 * time.Millisecond) // the first wake-up's marker expires
	if err := h.svc.Wake(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if d, _ := h.store.Get(context.Background(), id); d.Status != deliberation.StatusCompleted {
		t.Fatalf("entry = %s after a true wake-up", d.Status)
	}
	wantStats(t, h.stats(t), 1, 0, 1, 0)
}

// TestWakeOutlivesItsSender: the job's driver waits only briefly for the wake-up's answer and Ray
// reports the job terminal only after the driver exits, so the wake-up must still record the
// outcome after its sender hung up.
func TestWakeOutlivesItsSender(t *testing.T) {
	h := newHarness(t)
	h.svc.Settings.WakeWait = 5 * time.Second
	id := h.submit(t)
	res := threeAgentResult(t)
	h.ray.ResultFn = func(context.Context, string) (deliberation.Result, error) { return res, nil }
	hungUp := make(chan struct{})
	h.ray.StatusFn = func(context.Context, string) (app.JobStatus, error) {
		select {
		case <-hungUp:
			return app.JobStatus{State: deliberation.JobSucceeded}, nil
		default:
			return app.JobStatus{State: deliberation.JobRunning}, nil
		}
	}
	ctx, hangUp := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, func() {
		hangUp()
		close(hungUp)
	})
	if err := h.svc.Wake(ctx, id); err != nil {
		t.Fatal(err)
	}
	if d, _ := h.store.Get(context.Background(), id); d.Status != deliberation.StatusCompleted {
		t.Fatalf("entry = %s: the wake-up gave up when its sender hung up", d.Status)
	}
}

// TestReconcileDeliversWhatWaitedInOrder: events of a whole lifecycle, retry included, wait in the
// outbox while the bus is down; the next pass delivers them once each, in order.
func TestReconcileDeliversWhatWaitedInOrder(t *testing.T) {
	h := newHarness(t)
	h.events.Err = errors.New("nats down")
	id := h.submit(t)
	h.rayReports(app.JobStatus{State: deliberation.JobRunning})
	h.status(t, id)
	res := threeAgentResult(t)
	h.ray.ResultFn = func(context.Context, string) (deliberation.Result, error) { return res, nil }
	retried := id + "-a2"
	h.ray.StatusFn = func(_ context.Context, sub string) (app.JobStatus, error) {
		if sub == id {
			return app.JobStatus{State: deliberation.JobFailed, Infrastructure: true, Summary: "JOB_SUPERVISOR_ACTOR_DIED"}, nil
		}
		return app.JobStatus{State: deliberation.JobRunning}, nil
	}
	h.status(t, id)
	h.status(t, id)
	h.rayReports(app.JobStatus{State: deliberation.JobSucceeded})
	if r := h.status(t, id); r.Status != deliberation.StatusCompleted || r.SubmissionID != retried {
		t.Fatalf("report = %+v, want completed by the second attempt", r)
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
	want := []string{id + ".submitted", id + ".started", retried + ".started", retried + ".completed"}
	if got := h.events.Published(); !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
}
