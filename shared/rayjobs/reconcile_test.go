package rayjobs_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/fakes"
	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// passes runs 200 deliberations whose jobs have all ended (every other one failed) through
// `passes` concurrent reconcile passes, with no check lease, and returns the counters and events.
func passes(t *testing.T, passes int) (deliberation.ExecutionStats, []string) {
	t.Helper()
	fake := raytest.Start(t)
	fake.SetDefaultOutcome(raytest.Succeeds(0, resultLogs))
	store := fakes.NewStoreWithOutbox()
	events := fakes.NewEvents(store)
	settings := app.DefaultSettings()
	settings.MaxActive, settings.CheckPeriod = 0, 0 // every pass takes every deliberation
	settings.Limits = openLimits
	svc := app.NewService(store, newCluster(t, testConfig(fake.URL())), events, settings, nil)
	svc.IDs = &fakes.IDs{}
	for i := range 200 {
		sub := executeOn(t, svc)
		if i%2 == 1 {
			fake.UpdateJob(sub.DeliberationID, func(j *raytest.Job) {
				code := 1
				j.Status, j.ErrorType, j.DriverExitCode, j.EndTime = deliberation.JobFailed, "JOB_ENTRYPOINT_COMMAND_ERROR", &code, time.Now().UnixMilli()
				j.Logs = "Traceback (most recent call last):\nRuntimeError: boom\n" // died before its result line
			})
		}
	}
	var wg sync.WaitGroup
	for range passes {
		wg.Go(func() {
			if _, err := svc.Reconcile(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	st, err := svc.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	published := events.Published()
	slices.Sort(published)
	return st.Stats, published
}

func executeOn(t *testing.T, svc *app.Service) app.Submission {
	t.Helper()
	_, req := testDeliberation(t)
	sub, err := svc.Execute(context.Background(), app.ExecuteCommand{Input: deliberation.RequestInput{
		TaskID: req.TaskID, TaskDescription: req.TaskDescription, Role: req.Role,
		Constraints: deliberation.ConstraintsInput{StoryID: req.Constraints.StoryID},
		Agents:      req.Agents, VLLMURL: req.VLLMURL, VLLMModel: req.VLLMModel,
	}})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	return sub
}

// TestTenReconcilePassesEqualOne: ten passes started at once over 200 active deliberations count
// and publish exactly what one pass does.
func TestTenReconcilePassesEqualOne(t *testing.T) {
	t.Parallel()
	oneStats, oneEvents := passes(t, 1)
	tenStats, tenEvents := passes(t, 10)
	if oneStats != tenStats || !slices.Equal(oneEvents, tenEvents) {
		t.Fatalf("one pass: %+v and %d events; ten passes: %+v and %d events", oneStats, len(oneEvents), tenStats, len(tenEvents))
	}
	if tenStats.TotalDeliberations != 200 || tenStats.CompletedDeliberations != 100 || tenStats.FailedDeliberations != 100 || len(tenEvents) != 400 {
		t.Fatalf("ten passes: %+v, %d events; want 100 completed, 100 failed, 400 events", tenStats, len(tenEvents))
	}
}

var errCrash = errors.New("replica killed")

// crashingRay kills the "replica" at a chosen point of a submission: before Ray hears of it, or
// after Ray took it but before the store learns so.
type crashingRay struct {
	app.RayCluster
	mu          sync.Mutex
	beforeRay   map[string]bool
	afterRay    map[string]bool
	submissions int
}

func (c *crashingRay) Submit(ctx context.Context, d deliberation.Deliberation, req deliberation.Request) error {
	c.mu.Lock()
	before, after := c.beforeRay[d.SubmissionID], c.afterRay[d.SubmissionID]
	delete(c.beforeRay, d.SubmissionID)
	delete(c.afterRay, d.SubmissionID)
	c.submissions++
	c.mu.Unlock()
	if before {
		return errCrash
	}
	if err := c.RayCluster.Submit(ctx, d, req); err != nil || !after {
		return err
	}
	return errCrash
}

// TestCrashBetweenRedisAndRay: replicas die between their Redis and Ray steps; one reconcile pass
// later no entry lacks its job, no job of ours lacks its entry, and the counters are exact.
func TestCrashBetweenRedisAndRay(t *testing.T) {
	t.Parallel()
	fake := raytest.Start(t)
	fake.SetDefaultOutcome(raytest.Outcome{}) // jobs run until stopped
	cluster := newCluster(t, testConfig(fake.URL()))
	crashing := &crashingRay{RayCluster: cluster, beforeRay: map[string]bool{}, afterRay: map[string]bool{}}
	store := fakes.NewStore()
	settings := app.DefaultSettings()
	settings.CheckPeriod, settings.RepairAge = 0, 200*time.Millisecond
	settings.Limits = openLimits
	svc := app.NewService(store, crashing, nil, settings, nil)
	ids := &fakes.IDs{}
	svc.IDs = ids
	// Which ids the next executes get (fakes.IDs counts from 1), and where each one dies.
	peek := &fakes.IDs{}
	var all []string
	for i := range 9 {
		id := peek.NewID()
		all = append(all, id)
		switch i % 3 {
		case 0:
			crashing.beforeRay[id] = true
		case 1:
			crashing.afterRay[id] = true
		}
	}
	for range all {
		executeOn(t, svc)
	}
	// A retry whose new attempt was recorded but never reached Ray.
	retried := all[2]
	crashing.beforeRay[retried+"-a2"] = true
	fake.UpdateJob(retried, func(j *raytest.Job) {
		j.Status, j.ErrorType, j.EndTime = deliberation.JobFailed, "JOB_SUPERVISOR_ACTOR_DIED", time.Now().UnixMilli()
	})
	if r, err := svc.Status(context.Background(), retried); err != nil || r.Attempts != 2 || r.SubmissionID != retried+"-a2" {
		t.Fatalf("retry = %+v, %v", r, err)
	}
	time.Sleep(300 * time.Millisecond) // past RepairAge: no replica is mid-step any more
	if _, err := svc.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, id := range all {
		d, err := store.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("entry %s lost: %v", id, err)
		}
		job, ok := fake.Job(d.SubmissionID)
		if !ok || job.Status != deliberation.JobRunning {
			t.Errorf("entry %s: its current job %s is missing or not running (%+v)", id, d.SubmissionID, job.Status)
		}
		if !d.OnRay {
			t.Errorf("entry %s: not marked as on Ray after the repair", id)
		}
	}
	for _, j := range fake.Jobs() {
		if _, err := store.Get(context.Background(), j.Metadata["deliberation_id"]); err != nil {
			t.Errorf("job %s has no entry", j.SubmissionID)
		}
	}
	st, _ := svc.Stats(context.Background())
	if st.Stats.TotalDeliberations != 9 || st.Stats.ActiveDeliberations != 9 {
		t.Fatalf("stats = %+v, want 9 active", st.Stats)
	}
	if jobs := fake.Jobs(); len(jobs) != 10 { // nine current jobs and the failed first attempt
		t.Fatalf("%d jobs on Ray, want 10", len(jobs))
	}
}
