package rayjobs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/rayjobs"
)

// stubJob speaks the deliberation job's protocol without a model server: it reads the request
// from its env and prints a result line, with a worker's forged line before it and noise after.
const stubJob = `import json, os
req = json.loads(os.environ["RAY_EXECUTOR_REQUEST"])
results = [{"agent_id": a["agent_id"], "proposal": "proposal of %s for %s" % (a["agent_id"], req["deliberation_id"]),
            "reasoning": "r", "score": 0.5 + 0.25 * i, "metadata": {"model": a["model"]}}
           for i, a in enumerate(req["agents"])]
print("(agent pid=1) RAY_EXECUTOR_RESULT v1 {\"forged\": true}", flush=True)
print("RAY_EXECUTOR_RESULT v1 " + json.dumps({"agent_results": results, "total_agents": len(results),
      "completed_agents": len(results), "failed_agents": 0, "failures": [], "scoring_error": ""}), flush=True)
print("callback=" + os.environ.get("RAY_EXECUTOR_CALLBACK_URL", "") + " deadline=" + os.environ["RAY_EXECUTOR_DEADLINE_UNIX"])
`

// realCluster is a port on the real head whose jobs the test deletes at its end.
func realCluster(t *testing.T, change func(*rayjobs.Config)) *rayjobs.Cluster {
	t.Helper()
	cfg := testConfig(realRayAddress(t))
	cfg.Timeout = 10 * time.Second
	name, zip := zipPackage(t, map[string]string{"job.py": stubJob + "# " + uniqueID("pkg") + "\n"})
	cfg.JobPackage = func() (string, []byte, error) { return name, zip, nil }
	cfg.PackageEntrypoint = "python job.py"
	if change != nil {
		change(&cfg)
	}
	return newCluster(t, cfg)
}

// realDeliberation is a deliberation whose submission id no earlier run used.
func realDeliberation(t *testing.T, c *rayjobs.Cluster) (deliberation.Deliberation, deliberation.Request) {
	d, req := testDeliberation(t)
	cleanupJob(t, c.Client(), d.SubmissionID)
	return d, req
}

func waitState(t *testing.T, c *rayjobs.Cluster, id string, done func(app.AttemptStatus) bool) app.AttemptStatus {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		st, err := c.Status(context.Background(), id)
		if err != nil {
			t.Fatalf("status of %s: %v", id, err)
		}
		if done(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s", id, st.State)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ended(st app.AttemptStatus) bool { return !st.EndTime.IsZero() }

func TestClusterRealDeliberationJob(t *testing.T) {
	t.Parallel()
	c := realCluster(t, nil)
	ctx := context.Background()
	d, req := realDeliberation(t, c)
	for i := range 2 {
		if err := c.Submit(ctx, d, req); err != nil {
			t.Fatalf("submit %d: %v", i+1, err)
		}
	}
	if _, err := c.Client().Submit(ctx, rayjobs.SubmitRequest{Entrypoint: "python job.py", SubmissionID: d.SubmissionID}); !errors.Is(err, rayjobs.ErrAlreadyExists) {
		t.Fatalf("a second job under the same id: %v", err)
	}
	jobs, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	listed := 0
	for _, j := range jobs {
		if j.SubmissionID == d.SubmissionID && j.DeliberationID == d.ID {
			listed++
		}
	}
	if listed != 1 {
		t.Fatalf("listed %d times", listed)
	}
	st := waitState(t, c, d.SubmissionID, ended)
	if st.State != deliberation.JobSucceeded || st.EndTime.Before(st.StartTime) {
		t.Fatalf("status %+v", st)
	}
	res, err := c.Result(ctx, d.SubmissionID)
	if err != nil {
		t.Fatal(err)
	}
	if res.TotalAgents != 2 || res.BestResult == nil || res.BestResult.AgentID != "a2" ||
		res.BestResult.Proposal != "proposal of a2 for "+d.ID || res.AgentResults[0].Metadata["model"] != "m1" {
		t.Fatalf("result %+v", res)
	}
	logs, err := c.Client().Logs(ctx, d.SubmissionID)
	if err != nil || !strings.Contains(logs, "callback="+testCallback+" deadline=") {
		t.Fatalf("logs %q, %v", logs, err)
	}
	if err := c.Delete(ctx, d.SubmissionID); deliberation.ErrorCode(err) != deliberation.CodeConflict {
		t.Fatalf("delete right after the end: %v", err)
	}
	time.Sleep(time.Until(st.EndTime.Add(3100 * time.Millisecond)))
	if err := c.Delete(ctx, d.SubmissionID); err != nil {
		t.Fatalf("delete of the settled job: %v", err)
	}
	time.Sleep(2 * time.Second) // long enough for a ghost record to appear
	if _, err := c.Status(ctx, d.SubmissionID); deliberation.ErrorCode(err) != deliberation.CodeNotFound {
		t.Fatalf("after delete: %v", err)
	}
}

func TestClusterRealEntrypointFailure(t *testing.T) {
	t.Parallel()
	c := realCluster(t, func(cfg *rayjobs.Config) { cfg.Entrypoint = `python -c "import sys; print('no result'); sys.exit(3)"` })
	d, req := realDeliberation(t, c)
	if err := c.Submit(context.Background(), d, req); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, c, d.SubmissionID, ended)
	if st.State != deliberation.JobFailed || st.Infrastructure || !strings.Contains(st.Summary, "exit code 3") || strings.Contains(st.Summary, "no result") {
		t.Fatalf("status %+v", st)
	}
	if _, err := c.Result(context.Background(), d.SubmissionID); deliberation.ErrorCode(err) != deliberation.CodeInternal {
		t.Fatalf("result of a job that printed none: %v", err)
	}
}

func TestClusterRealStop(t *testing.T) {
	t.Parallel()
	c := realCluster(t, func(cfg *rayjobs.Config) { cfg.Entrypoint = `python -c "import time; time.sleep(120)"` })
	d, req := realDeliberation(t, c)
	if err := c.Submit(context.Background(), d, req); err != nil {
		t.Fatal(err)
	}
	waitState(t, c, d.SubmissionID, func(st app.AttemptStatus) bool { return st.State == deliberation.JobRunning })
	if err := c.Stop(context.Background(), d.SubmissionID); err != nil {
		t.Fatal(err)
	}
	if st := waitState(t, c, d.SubmissionID, ended); st.State != deliberation.JobStopped {
		t.Fatalf("status %+v", st)
	}
}

func TestClusterRealInfrastructureFailure(t *testing.T) {
	t.Parallel()
	c := realCluster(t, nil)
	id := uniqueID("infra")
	cleanupJob(t, c.Client(), id)
	if _, err := c.Client().Submit(context.Background(), rayjobs.SubmitRequest{Entrypoint: "python job.py", SubmissionID: id,
		RuntimeEnv: &rayjobs.RuntimeEnv{WorkingDir: "gcs://_ray_pkg_" + strings.ToLower(uniqueID("gone")) + ".zip"}}); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, c, id, ended)
	if st.State != deliberation.JobFailed || !st.Infrastructure || !strings.HasPrefix(st.Summary, "RUNTIME_ENV_SETUP_FAILURE: ") || len(st.Summary) > 310 {
		t.Fatalf("status %+v", st)
	}
}
