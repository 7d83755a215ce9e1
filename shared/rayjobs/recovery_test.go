package rayjobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/fakes"
	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

const resultLogs = `RAY_EXECUTOR_RESULT v1 {"agent_results": [{"agent_id": "a1", "proposal": "p", "reasoning": "r", "score": 0.8}], ` +
	`"total_agents": 2, "completed_agents": 1, "failed_agents": 1, "failures": [{"agent_id": "a2", "error": "503"}], "scoring_error": ""}` + "\n"

// recovery drives the use cases over the fake Jobs API, where Ray's failures can be staged.
type recovery struct {
	svc   *app.Service
	fake  *raytest.Server
	store *fakes.Store
}

func newRecovery(t *testing.T) *recovery {
	t.Helper()
	fake := raytest.Start(t)
	fake.SetDefaultOutcome(raytest.Succeeds(300*time.Millisecond, resultLogs))
	cluster := newCluster(t, testConfig(fake.URL()))
	settings := app.DefaultSettings()
	settings.CheckPeriod, settings.RepairAge = 0, 100*time.Millisecond
	settings.Limits = openLimits
	store := fakes.NewStore()
	return &recovery{svc: app.NewService(store, cluster, nil, settings, nil), fake: fake, store: store}
}

func (r *recovery) execute(t *testing.T) app.Submission {
	t.Helper()
	_, req := testDeliberation(t)
	in := deliberation.RequestInput{TaskID: req.TaskID, TaskDescription: req.TaskDescription, Role: req.Role,
		Constraints: deliberation.ConstraintsInput{StoryID: req.Constraints.StoryID},
		Agents:      req.Agents, VLLMURL: req.VLLMURL, VLLMModel: req.VLLMModel}
	sub, err := r.svc.Execute(context.Background(), app.ExecuteCommand{Input: in})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	return sub
}

func (r *recovery) waitTerminal(t *testing.T, id string) app.StatusReport {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rep, err := r.svc.Status(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Status.Terminal() {
			return rep
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still %s", id, rep.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestInfrastructureFailureIsResubmitted(t *testing.T) {
	t.Parallel()
	r := newRecovery(t)
	sub := r.execute(t)
	r.fake.UpdateJob(sub.DeliberationID, func(j *raytest.Job) {
		j.Status, j.ErrorType = deliberation.JobFailed, "JOB_SUPERVISOR_ACTOR_DIED"
		j.Message, j.EndTime = "The actor died unexpectedly before finishing this task.", time.Now().UnixMilli()
	})
	rep := r.waitTerminal(t, sub.DeliberationID)
	if rep.Status != deliberation.StatusCompleted || rep.Attempts != 2 || rep.SubmissionID != sub.DeliberationID+"-a2" {
		t.Fatalf("report = %+v, want completed on attempt 2 under %s-a2", rep, sub.DeliberationID)
	}
	if _, ok := r.fake.Job(sub.DeliberationID + "-a2"); !ok {
		t.Fatal("Ray never received the second attempt")
	}
}

func TestEntrypointFailureIsNotResubmitted(t *testing.T) {
	t.Parallel()
	r := newRecovery(t)
	r.fake.SetDefaultOutcome(raytest.Fails(100*time.Millisecond, 3, "Traceback (most recent call last):\nValueError: boom\n"))
	sub := r.execute(t)
	rep := r.waitTerminal(t, sub.DeliberationID)
	if rep.Status != deliberation.StatusFailed || rep.Attempts != 1 || len(r.fake.Jobs()) != 1 {
		t.Fatalf("report = %+v, %d Ray jobs; want failed after one attempt", rep, len(r.fake.Jobs()))
	}
	if len(rep.ErrorMessage) > 300 {
		t.Fatalf("error message is %d characters: the log must not be stored", len(rep.ErrorMessage))
	}
}

// TestRayOutage: while Ray is down, execute answers the queued message fast once the breaker is
// open; after Ray returns, the reconcile pass submits every queued deliberation and they complete.
func TestRayOutage(t *testing.T) {
	t.Parallel()
	r := newRecovery(t)
	r.fake.Inject(raytest.Fault{Drop: true})
	var ids []string
	var slowest time.Duration
	for i := range 12 {
		start := time.Now()
		sub := r.execute(t)
		took := time.Since(start)
		if sub.Message != app.MessageQueued {
			t.Fatalf("execute %d answered %q while Ray is down", i, sub.Message)
		}
		if i >= 6 { // the breaker opened after the first failures
			slowest = max(slowest, took)
		}
		ids = append(ids, sub.DeliberationID)
	}
	if slowest > time.Second {
		t.Fatalf("execute took %v with the breaker open, want under 1 s", slowest)
	}
	t.Logf("slowest execute with the breaker open: %v", slowest)
	r.fake.ClearFaults()
	time.Sleep(300 * time.Millisecond) // the breaker half-opens; the entries are past RepairAge
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := r.svc.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
		st, _ := r.svc.Stats(context.Background())
		if st.Stats.CompletedDeliberations == int64(len(ids)) {
			if st.Stats.ActiveDeliberations != 0 || st.Stats.TotalDeliberations != int64(len(ids)) {
				t.Fatalf("stats = %+v", st.Stats)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Ray came back: %+v", st.Stats)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, id := range ids {
		if j, ok := r.fake.Job(id); !ok || j.SubmissionID != id {
			t.Fatalf("job %s was not submitted under its deterministic id", id)
		}
	}
}
