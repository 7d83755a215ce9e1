package rayjobs_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/fakes/modelserver"
	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
	rayjob "github.com/rayexecutor/functions/shared/rayjob"
	"github.com/rayexecutor/functions/shared/rayjobs"
	"github.com/rayexecutor/functions/shared/redisstore"
)

// e2e is the whole execute-to-terminal path: the use cases on a real redis-server, the Ray port
// on the real local head running the real deliberation job, and the fake model server.
type e2e struct {
	raytest.Flow
	cluster *rayjobs.Cluster
}

func newE2E(t *testing.T, change func(*rayjobs.Config)) *e2e {
	return newE2EWith(t, change, nil)
}

func newE2EWith(t *testing.T, change func(*rayjobs.Config), changeSettings func(*app.Settings)) *e2e {
	t.Helper()
	addr := realRayAddress(t)
	srv := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	// Tests share the head: each owns its jobs, as separate deployments would.
	cfg := rayjobs.Config{ClientConfig: rayjobs.ClientConfig{Address: addr, Timeout: 10 * time.Second},
		JobPackage: rayjob.Package, PackageEntrypoint: rayjob.Entrypoint, Owner: uniqueID("e2e"), Policy: openLimits.JobPolicy()}
	if change != nil {
		change(&cfg)
	}
	cluster := newCluster(t, cfg)
	settings := app.DefaultSettings()
	settings.Limits = openLimits
	settings.CheckPeriod = 200 * time.Millisecond
	settings.DeadlineGrace = time.Second
	if changeSettings != nil {
		changeSettings(&settings)
	}
	return &e2e{Flow: raytest.Flow{Svc: app.NewService(redisstore.New(rdb, redisstore.Options{}), cluster, nil, settings, nil),
		Model: modelserver.New(t)}, cluster: cluster}
}

// execute submits in and returns its id. A head that is slow to answer (a fresh one, a loaded
// machine) may leave the deliberation queued: the status polls then submit it, as in production.
func (e *e2e) execute(t testing.TB, in deliberation.RequestInput) string {
	t.Helper()
	sub, err := e.Svc.Execute(context.Background(), app.ExecuteCommand{Input: in})
	if err != nil || sub.Status != deliberation.StatusSubmitted {
		t.Fatalf("Execute = %+v, %v", sub, err)
	}
	if sub.Message != app.MessageSubmitted {
		t.Logf("Ray did not take the job at once: %s", sub.Message)
	}
	t.Cleanup(func() { cleanupJob(t, e.cluster.Client(), sub.DeliberationID) })
	return sub.DeliberationID
}

func TestEndToEndOneAgentAlwaysFails(t *testing.T) {
	t.Parallel()
	e := newE2E(t, nil)
	e.Model.SetBehavior("m-broken", modelserver.Behavior{FailStatus: 503})
	id := e.execute(t, e.Input(120, 1,
		deliberation.AgentConfig{AgentID: "dev-1", Role: "DEV", Model: "m-dev", PromptTemplate: raytest.Braces},
		deliberation.AgentConfig{AgentID: "qa-1", Role: "QA", Model: "m-broken"},
		deliberation.AgentConfig{AgentID: "arch-1", Role: "ARCHITECT", Model: "m-arch"},
	))
	r := e.PollUntilTerminal(t, id, 150*time.Second)
	res := r.Result
	if r.Status != deliberation.StatusCompleted || res == nil {
		t.Fatalf("report = %+v, want completed", r)
	}
	if len(res.AgentResults) != 2 || res.FailedAgents != 1 || res.CompletedAgents != 2 || res.TotalAgents != 3 {
		t.Fatalf("result counts: %+v", res)
	}
	if len(res.Failures) != 1 || res.Failures[0].AgentID != "qa-1" || !strings.Contains(res.Failures[0].Error, "503") {
		t.Fatalf("failures = %+v, want qa-1 with its 503", res.Failures)
	}
	best := res.AgentResults[0]
	for _, a := range res.AgentResults {
		if a.Score < 0 || a.Score > 1 {
			t.Fatalf("score %v of %s outside [0, 1]", a.Score, a.AgentID)
		}
		if a.Score > best.Score {
			best = a
		}
	}
	if res.BestResult == nil || res.BestResult.AgentID != best.AgentID || res.ScoringError != "" {
		t.Fatalf("best = %+v, want %s (the highest score); scoring error %q", res.BestResult, best.AgentID, res.ScoringError)
	}
	if r.ExecutionTimeMS <= 0 || r.FinishedAt == nil || r.Attempts != 1 {
		t.Fatalf("report = %+v, want Ray's execution time, a finish time and one attempt", r)
	}
	for range 5 { // polled again and again, it is counted once
		if again, _ := e.Svc.Status(context.Background(), id); again.Status != deliberation.StatusCompleted {
			t.Fatalf("status changed to %s", again.Status)
		}
	}
	e.WantStats(t, 1, 0, 1, 0, 0)
	raytest.CheckModelRequests(t, e.Model)
	e.waitGoneFromRay(t, id)
}

// waitGoneFromRay runs reconcile passes until Ray's job list no longer holds the deliberation's
// jobs: its outcome is stored, so its record must not stay in Ray forever.
func (e *e2e) waitGoneFromRay(t *testing.T, id string) {
	t.Helper()
	// A job stopped while PENDING stays so until Ray's own start timeout fails it (45 s on the
	// tests' head, see deploy/local/with-ray-head.sh); only then can it be deleted.
	deadline := time.Now().Add(90 * time.Second)
	for {
		if _, err := e.Svc.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
		jobs, err := e.cluster.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		left := 0
		for _, j := range jobs {
			if j.DeliberationID == id {
				left++
			}
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d Ray jobs of %s remain after its outcome was stored", left, id)
		}
		time.Sleep(time.Second)
	}
}

func TestEndToEndAllAgentsFail(t *testing.T) {
	t.Parallel()
	e := newE2E(t, nil)
	e.AllAgentsFail(t, e.execute, 150*time.Second)
}

// TestEndToEndDeadline: a job still running past its deadline is failed in Redis, then stopped.
func TestEndToEndDeadline(t *testing.T) {
	t.Parallel()
	e := newE2E(t, func(c *rayjobs.Config) {
		c.Entrypoint, c.JobPackage, c.PackageEntrypoint = "python -c 'import time; time.sleep(600)'", nil, ""
	})
	id := e.execute(t, e.Input(4, 0, deliberation.AgentConfig{AgentID: "a1", Role: "DEV", Model: "m"}))
	r := e.PollUntilTerminal(t, id, 60*time.Second)
	if r.Status != deliberation.StatusFailed || r.ErrorMessage != "timed out after 4 s" {
		t.Fatalf("report = %+v, want timed out after 4 s", r)
	}
	e.waitGoneFromRay(t, id) // stopped, then deleted
	e.WantStats(t, 1, 0, 0, 1, 0)
}

func TestEndToEndExecutionTimeIsRays(t *testing.T) {
	t.Parallel()
	e := newE2E(t, nil)
	e.Model.SetBehavior("m-slow", modelserver.Behavior{Delay: 1500 * time.Millisecond})
	id := e.execute(t, e.Input(120, 0, deliberation.AgentConfig{AgentID: "a1", Role: "DEV", Model: "m-slow"}))
	r := e.PollUntilTerminal(t, id, 150*time.Second)
	if r.Status != deliberation.StatusCompleted || r.ExecutionTimeMS < 1500 || math.IsNaN(r.Result.AverageScore) {
		t.Fatalf("report = %+v, want completed with Ray's own run time above the model's delay", r)
	}
	t.Logf("execution time %d ms", r.ExecutionTimeMS)
}

// TestEndToEndPendingLimit: a job Ray cannot schedule (it asks for a resource no node has) is
// failed after PENDING_LIMIT with a clear message, and its Ray job is stopped and deleted.
func TestEndToEndPendingLimit(t *testing.T) {
	t.Parallel()
	e := newE2EWith(t, func(c *rayjobs.Config) { c.Resources = map[string]float64{"unobtainium": 1} },
		func(s *app.Settings) { s.PendingLimit = 3 * time.Second })
	id := e.execute(t, e.Input(120, 0, deliberation.AgentConfig{AgentID: "a1", Role: "DEV", Model: "m"}))
	r := e.PollUntilTerminal(t, id, 60*time.Second)
	if r.Status != deliberation.StatusFailed || r.ErrorMessage != "job pending on Ray for more than 3s (resources unavailable)" {
		t.Fatalf("report = %+v, want failed for pending too long", r)
	}
	e.waitGoneFromRay(t, id)
	e.WantStats(t, 1, 0, 0, 1, 0)
}
