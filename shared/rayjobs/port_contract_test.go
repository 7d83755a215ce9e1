package rayjobs_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/raycontract"
	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/rayjobs"
)

// The port's contract on the fake Jobs API: jobs stay PENDING until the driver moves them, as
// Ray's job manager does until a job's driver starts.
func TestClusterContractFake(t *testing.T) {
	t.Parallel()
	raycontract.Run(t, raycontract.Harness{Within: 5 * time.Second, New: func(t *testing.T) raycontract.Adapter {
		s := raytest.Start(t)
		s.SetDefaultOutcome(raytest.Outcome{PendFor: raytest.Forever})
		c := newCluster(t, rayjobs.Config{ClientConfig: fastClientConfig(s.URL()), Entrypoint: "python job.py",
			Owner: uniqueID("contract"), Policy: raycontract.Limits.JobPolicy()})
		update := func(t *testing.T, id string, f func(*raytest.Job)) {
			if !s.UpdateJob(id, f) {
				t.Fatalf("the fake has no job %s", id)
			}
		}
		return raycontract.FakeJobsAdapter(c, update, rayjobs.ResultPrefix+raycontract.ResultJSON)
	}})
}

// driveScript is the real head's attempt: it waits until the test writes its verdict into
// <dir>/<deliberation id>, then prints the contract's result line ("ok") or fails.
const driveScript = `import json, os, pathlib, sys, time
d = json.loads(os.environ["RAY_EXECUTOR_REQUEST"])["deliberation_id"]
verdict = pathlib.Path(sys.argv[1], d)
for _ in range(1200):
    if verdict.exists():
        break
    time.sleep(0.1)
if verdict.exists() and verdict.read_text() == "ok":
    print("RAY_EXECUTOR_RESULT v1 " + sys.argv[2], flush=True)
    sys.exit(0)
sys.exit(3)
`

// The port's contract on the real head (RAY_TEST_ADDRESS), as the real-head tests run.
func TestClusterContractReal(t *testing.T) {
	t.Parallel()
	addr := realRayAddress(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "drive.py")
	if err := os.WriteFile(script, []byte(driveScript), 0o644); err != nil {
		t.Fatal(err)
	}
	entrypoint := "python " + script + " " + dir + " '" + raycontract.ResultJSON + "'"
	const within = 90 * time.Second
	raycontract.Run(t, raycontract.Harness{Real: true, Within: within, New: func(t *testing.T) raycontract.Adapter {
		c := newCluster(t, rayjobs.Config{ClientConfig: rayjobs.ClientConfig{Address: addr, Timeout: 10 * time.Second},
			Entrypoint: entrypoint, Owner: uniqueID("contract"), Policy: raycontract.Limits.JobPolicy()})
		t.Cleanup(func() { deleteOwnJobs(t, c) })
		wait := func(t *testing.T, id string, done func(rayjobs.JobDetails) bool) rayjobs.JobDetails {
			return waitFor(t, c.Client(), id, within, done)
		}
		return raycontract.Adapter{Port: c,
			Start: func(t *testing.T, d deliberation.Deliberation) {
				wait(t, d.SubmissionID, func(j rayjobs.JobDetails) bool { return j.Status == deliberation.JobRunning })
			},
			Finish: func(t *testing.T, d deliberation.Deliberation, succeeded bool) {
				verdict := "fail"
				if succeeded {
					verdict = "ok"
				}
				if err := os.WriteFile(filepath.Join(dir, d.ID), []byte(verdict), 0o644); err != nil {
					t.Fatal(err)
				}
				settle(wait(t, d.SubmissionID, terminal))
				time.Sleep(time.Second) // settle waits 2 s; the port's own margin is 3 s
			}}
	}})
}

// deleteOwnJobs stops and deletes what a port left on the real head.
func deleteOwnJobs(t *testing.T, c *rayjobs.Cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	attempts, err := c.List(ctx)
	if err != nil {
		t.Logf("list: %v", err)
		return
	}
	for _, a := range attempts {
		_ = c.Stop(ctx, a.SubmissionID)
		for ctx.Err() == nil {
			err := c.Delete(ctx, a.SubmissionID)
			if deliberation.ErrorCode(err) != deliberation.CodeConflict {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
}
