package app_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/fakes"
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
	h.ray.StatusFn = func(context.Context, string) (app.AttemptStatus, error) {
		if rayDown {
			return app.AttemptStatus{}, deliberation.Unavailable(errors.New("refused"), "ray unavailable")
		}
		return app.AttemptStatus{}, deliberation.Errorf(deliberation.CodeNotFound, "no such job")
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
	h.ray.StatusFn = func(_ context.Context, id string) (app.AttemptStatus, error) {
		if id == done {
			return app.AttemptStatus{State: deliberation.JobSucceeded, StartTime: epoch, EndTime: epoch.Add(time.Second)}, nil
		}
		return app.AttemptStatus{State: deliberation.JobRunning}, nil
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
		h.ray.StatusFn = func(_ context.Context, id string) (app.AttemptStatus, error) {
			if id[len(id)-1]%2 == 0 {
				return app.AttemptStatus{State: deliberation.JobSucceeded}, nil
			}
			return app.AttemptStatus{State: deliberation.JobFailed, Summary: "exit 1"}, nil
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
	h.rayReports(app.AttemptStatus{State: deliberation.JobRunning})
	if err := h.svc.Wake(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.Wait(context.Background()); err != nil { // the follow-up gives up after WakeWait
		t.Fatal(err)
	}
	if d, _ := h.store.Get(context.Background(), id); d.Status != deliberation.StatusSubmitted {
		t.Fatalf("a wake-up for a running job changed the entry to %s", d.Status)
	}
	res := threeAgentResult(t)
	h.rayReports(app.AttemptStatus{State: deliberation.JobSucceeded})
	h.ray.ResultFn = func(context.Context, string) (deliberation.Result, error) { return res, nil }
	time.Sleep(time.Second) // the first wake-up's markers expire
	if err := h.svc.Wake(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d, _ := h.store.Get(context.Background(), id); d.Status != deliberation.StatusCompleted {
		t.Fatalf("entry = %s after a true wake-up", d.Status)
	}
	wantStats(t, h.stats(t), 1, 0, 1, 0)
}

// TestWakeOutlivesItsSender: the job's driver waits only briefly for the wake-up's answer and Ray
// reports the job terminal only after the driver exits, so the wake-up's follow-up must still
// record the outcome after its sender hung up.
func TestWakeOutlivesItsSender(t *testing.T) {
	h := newHarness(t)
	h.svc.Settings.WakeWait = 5 * time.Second
	id := h.submit(t)
	res := threeAgentResult(t)
	h.ray.ResultFn = func(context.Context, string) (deliberation.Result, error) { return res, nil }
	hungUp := make(chan struct{})
	h.ray.StatusFn = func(context.Context, string) (app.AttemptStatus, error) {
		select {
		case <-hungUp:
			return app.AttemptStatus{State: deliberation.JobSucceeded}, nil
		default:
			return app.AttemptStatus{State: deliberation.JobRunning}, nil
		}
	}
	ctx, hangUp := context.WithCancel(context.Background())
	if err := h.svc.Wake(ctx, id); err != nil {
		t.Fatal(err)
	}
	hangUp()
	close(hungUp)
	if err := h.svc.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d, _ := h.store.Get(context.Background(), id); d.Status != deliberation.StatusCompleted {
		t.Fatalf("entry = %s: the wake-up gave up when its sender hung up", d.Status)
	}
}

// TestWakeIsCheap: wake-ups need no token, so a flood of them for an active deliberation, sent to
// several replicas at once, is answered at once and costs Ray at most one status query per second.
func TestWakeIsCheap(t *testing.T) {
	h := newHarness(t)
	h.svc.Settings.WakeWait = 2500 * time.Millisecond
	id := h.submit(t)
	var queries atomic.Int32
	h.ray.StatusFn = func(context.Context, string) (app.AttemptStatus, error) {
		queries.Add(1)
		return app.AttemptStatus{State: deliberation.JobRunning}, nil
	}
	replicas := make([]*app.Service, 3)
	for i := range replicas {
		replicas[i] = &app.Service{Store: h.store, Ray: h.ray, Clock: h.clock, IDs: &fakes.IDs{}, Settings: h.svc.Settings, Log: h.svc.Log}
	}
	start := time.Now()
	var slowest atomic.Int64
	var wg sync.WaitGroup
	for i := range 120 { // 40 wake-ups a second for 3 s, spread over the replicas
		wg.Go(func() {
			time.Sleep(time.Duration(i) * 25 * time.Millisecond)
			began := time.Now()
			if err := replicas[i%len(replicas)].Wake(context.Background(), id); err != nil {
				t.Error(err)
			}
			took := int64(time.Since(began))
			for prev := slowest.Load(); took > prev && !slowest.CompareAndSwap(prev, took); prev = slowest.Load() {
			}
		})
	}
	wg.Wait()
	for _, r := range replicas {
		if err := r.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	if took := time.Duration(slowest.Load()); took > 100*time.Millisecond {
		t.Errorf("a wake-up took %v to answer, want at once", took)
	}
	if n, most := int(queries.Load()), int(elapsed/time.Second)+1; n > most || n == 0 {
		t.Errorf("%d Ray status queries in %v, want 1 to %d (one a second)", n, elapsed.Round(time.Millisecond), most)
	}
	if d, _ := h.store.Get(context.Background(), id); d.Status != deliberation.StatusSubmitted {
		t.Fatalf("wake-ups for a running job changed the entry to %s", d.Status)
	}
}

// TestReconcileDeliversWhatWaitedInOrder: events of a whole lifecycle, retry included, wait in the
// outbox while the bus is down; the next pass delivers them once each, in order.
func TestReconcileDeliversWhatWaitedInOrder(t *testing.T) {
	h := newHarness(t)
	h.events.Err = errors.New("nats down")
	id := h.submit(t)
	h.rayReports(app.AttemptStatus{State: deliberation.JobRunning})
	h.status(t, id)
	res := threeAgentResult(t)
	h.ray.ResultFn = func(context.Context, string) (deliberation.Result, error) { return res, nil }
	retried := id + "-a2"
	h.ray.StatusFn = func(_ context.Context, sub string) (app.AttemptStatus, error) {
		if sub == id {
			return app.AttemptStatus{State: deliberation.JobFailed, Infrastructure: true, Summary: "JOB_SUPERVISOR_ACTOR_DIED"}, nil
		}
		return app.AttemptStatus{State: deliberation.JobRunning}, nil
	}
	h.status(t, id)
	h.status(t, id)
	h.rayReports(app.AttemptStatus{State: deliberation.JobSucceeded})
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
