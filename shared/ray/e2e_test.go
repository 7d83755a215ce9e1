package ray_test

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/fakes/modelserver"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/ray"
	rayjob "github.com/rayexecutor/functions/shared/rayjob"
	"github.com/rayexecutor/functions/shared/redisstore"
)

// e2e is the whole execute-to-terminal path: the use cases on a real redis-server, the Ray port
// on the real local head running the real deliberation job, and the fake model server.
type e2e struct {
	svc     *app.Service
	cluster *ray.Cluster
	model   *modelserver.Server
}

func newE2E(t *testing.T, change func(*ray.Config)) *e2e {
	return newE2EWith(t, change, nil)
}

func newE2EWith(t *testing.T, change func(*ray.Config), changeSettings func(*app.Settings)) *e2e {
	t.Helper()
	addr := realRayAddress(t)
	srv := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	// Tests share the head: each owns its jobs, as separate deployments would.
	cfg := ray.Config{ClientConfig: ray.ClientConfig{Address: addr, Timeout: 10 * time.Second},
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
	return &e2e{svc: app.NewService(redisstore.New(rdb, redisstore.Options{}), cluster, nil, settings, nil),
		cluster: cluster, model: modelserver.New(t)}
}

func (e *e2e) input(timeout, retries int, agents ...deliberation.AgentConfig) deliberation.RequestInput {
	return deliberation.RequestInput{
		TaskID: "ceremony-1:story-1:role-DEV", TaskDescription: "Write a rate limiter", Role: "DEV",
		Constraints: deliberation.ConstraintsInput{StoryID: "story-1", TimeoutSeconds: &timeout, MaxRetries: &retries},
		Agents:      agents, VLLMURL: e.model.URL(), VLLMModel: "judge-model",
	}
}

// execute submits in and returns its id. A head that is slow to answer (a fresh one, a loaded
// machine) may leave the deliberation queued: the status polls then submit it, as in production.
func (e *e2e) execute(t *testing.T, in deliberation.RequestInput) string {
	t.Helper()
	sub, err := e.svc.Execute(context.Background(), app.ExecuteCommand{Input: in})
	if err != nil || sub.Status != deliberation.StatusSubmitted {
		t.Fatalf("Execute = %+v, %v", sub, err)
	}
	if sub.Message != app.MessageSubmitted {
		t.Logf("Ray did not take the job at once: %s", sub.Message)
	}
	t.Cleanup(func() { cleanupJob(t, e.cluster.Client(), sub.DeliberationID) })
	return sub.DeliberationID
}

// pollUntilTerminal polls status from several goroutines at once, as many callers would.
func (e *e2e) pollUntilTerminal(t *testing.T, id string, within time.Duration) app.StatusReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var final app.StatusReport
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				r, err := e.svc.Status(ctx, id)
				if err == nil && r.Status.Terminal() {
					once.Do(func() { final = r; cancel() })
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	if !final.Status.Terminal() {
		t.Fatalf("deliberation %s not terminal within %v", id, within)
	}
	return final
}

func (e *e2e) wantStats(t *testing.T, total, active, completed, failed, cancelled int64) {
	t.Helper()
	r, err := e.svc.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := r.Stats
	if s.TotalDeliberations != total || s.ActiveDeliberations != active || s.CompletedDeliberations != completed ||
		s.FailedDeliberations != failed || s.CancelledDeliberations != cancelled {
		t.Fatalf("stats = %+v; want total %d active %d completed %d failed %d cancelled %d", s, total, active, completed, failed, cancelled)
	}
}

const braces = `Solve {task} as {role} (task {task_id}, story {story_id}): def f(): return {"a": 1} {not_a_token}`

func TestEndToEndOneAgentAlwaysFails(t *testing.T) {
	t.Parallel()
	e := newE2E(t, nil)
	e.model.SetBehavior("m-broken", modelserver.Behavior{FailStatus: 503})
	id := e.execute(t, e.input(120, 1,
		deliberation.AgentConfig{AgentID: "dev-1", Role: "DEV", Model: "m-dev", PromptTemplate: braces},
		deliberation.AgentConfig{AgentID: "qa-1", Role: "QA", Model: "m-broken"},
		deliberation.AgentConfig{AgentID: "arch-1", Role: "ARCHITECT", Model: "m-arch"},
	))
	r := e.pollUntilTerminal(t, id, 150*time.Second)
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
		if again, _ := e.svc.Status(context.Background(), id); again.Status != deliberation.StatusCompleted {
			t.Fatalf("status changed to %s", again.Status)
		}
	}
	e.wantStats(t, 1, 0, 1, 0, 0)
	checkModelRequests(t, e.model)
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
		if _, err := e.svc.Reconcile(context.Background()); err != nil {
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

// checkModelRequests asserts the request bodies of docs/ray.md as the fake model server received
// them.
func checkModelRequests(t *testing.T, m *modelserver.Server) {
	t.Helper()
	systems := map[string]string{"m-dev": "software developer", "m-broken": "QA engineer", "m-arch": "software architect"}
	for model, want := range systems {
		reqs := m.RequestsFor(model)
		if len(reqs) == 0 {
			t.Fatalf("no request for model %s", model)
		}
		for _, r := range reqs {
			if r.IsJudge() || !strings.Contains(r.Message("system"), want) || r.Temperature == nil || *r.Temperature != 0.7 ||
				r.MaxTokens == nil || *r.MaxTokens != 2048 {
				t.Fatalf("request for %s: system %q, temperature %v, max_tokens %v", model, r.Message("system"), r.Temperature, r.MaxTokens)
			}
		}
	}
	if n := len(m.RequestsFor("m-broken")); n != 2 {
		t.Fatalf("the failing agent was tried %d times, want 1 + max_retries = 2", n)
	}
	wantUser := `Solve Write a rate limiter as DEV (task ceremony-1:story-1:role-DEV, story story-1): def f(): return {"a": 1} {not_a_token}`
	if got := m.RequestsFor("m-dev")[0].Message("user"); got != wantUser {
		t.Fatalf("templated prompt = %q, want %q", got, wantUser)
	}
	judges := m.JudgeRequests()
	if len(judges) != 1 || judges[0].Model != "judge-model" {
		t.Fatalf("judge calls = %d (model %q), want one to judge-model", len(judges), judges[0].Model)
	}
	var format struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(judges[0].ResponseFormat, &format); err != nil || format.Type != "json_schema" {
		t.Fatalf("judge response_format = %s, want a json_schema", judges[0].ResponseFormat)
	}
	if ids := judges[0].JudgeAgentIDs(); len(ids) != 2 {
		t.Fatalf("judge scored %v, want the two proposals", ids)
	}
}

func TestEndToEndAllAgentsFail(t *testing.T) {
	t.Parallel()
	e := newE2E(t, nil)
	allAgentsFail(t, e, e.execute, 150*time.Second)
}

// allAgentsFail runs a deliberation none of whose agents proposes anything, submitted with
// execute: it fails with both agents' errors kept, counted once. It returns its id.
func allAgentsFail(t *testing.T, e *e2e, execute func(*testing.T, deliberation.RequestInput) string, within time.Duration) string {
	t.Helper()
	e.model.SetBehavior("m-x", modelserver.Behavior{FailStatus: 500})
	e.model.SetBehavior("m-y", modelserver.Behavior{FailStatus: 400})
	id := execute(t, e.input(120, 0,
		deliberation.AgentConfig{AgentID: "a1", Role: "DEV", Model: "m-x"},
		deliberation.AgentConfig{AgentID: "a2", Role: "QA", Model: "m-y"},
	))
	r := e.pollUntilTerminal(t, id, within)
	if r.Status != deliberation.StatusFailed || r.Result == nil || len(r.Result.Failures) != 2 || r.Result.CompletedAgents != 0 {
		t.Fatalf("report = %+v, want failed with both agents' errors kept", r)
	}
	if !strings.Contains(r.ErrorMessage, "a1:") || !strings.Contains(r.ErrorMessage, "a2:") {
		t.Fatalf("error message %q does not name the agents", r.ErrorMessage)
	}
	e.wantStats(t, 1, 0, 0, 1, 0)
	return id
}

// TestEndToEndDeadline: a job still running past its deadline is failed in Redis, then stopped.
func TestEndToEndDeadline(t *testing.T) {
	t.Parallel()
	e := newE2E(t, func(c *ray.Config) {
		c.Entrypoint, c.JobPackage, c.PackageEntrypoint = "python -c 'import time; time.sleep(600)'", nil, ""
	})
	id := e.execute(t, e.input(4, 0, deliberation.AgentConfig{AgentID: "a1", Role: "DEV", Model: "m"}))
	r := e.pollUntilTerminal(t, id, 60*time.Second)
	if r.Status != deliberation.StatusFailed || r.ErrorMessage != "timed out after 4 s" {
		t.Fatalf("report = %+v, want timed out after 4 s", r)
	}
	e.waitGoneFromRay(t, id) // stopped, then deleted
	e.wantStats(t, 1, 0, 0, 1, 0)
}

func TestEndToEndExecutionTimeIsRays(t *testing.T) {
	t.Parallel()
	e := newE2E(t, nil)
	e.model.SetBehavior("m-slow", modelserver.Behavior{Delay: 1500 * time.Millisecond})
	id := e.execute(t, e.input(120, 0, deliberation.AgentConfig{AgentID: "a1", Role: "DEV", Model: "m-slow"}))
	r := e.pollUntilTerminal(t, id, 150*time.Second)
	if r.Status != deliberation.StatusCompleted || r.ExecutionTimeMS < 1500 || math.IsNaN(r.Result.AverageScore) {
		t.Fatalf("report = %+v, want completed with Ray's own run time above the model's delay", r)
	}
	t.Logf("execution time %d ms", r.ExecutionTimeMS)
}

// TestEndToEndPendingLimit: a job Ray cannot schedule (it asks for a resource no node has) is
// failed after PENDING_LIMIT with a clear message, and its Ray job is stopped and deleted.
func TestEndToEndPendingLimit(t *testing.T) {
	t.Parallel()
	e := newE2EWith(t, func(c *ray.Config) { c.Resources = map[string]float64{"unobtainium": 1} },
		func(s *app.Settings) { s.PendingLimit = 3 * time.Second })
	id := e.execute(t, e.input(120, 0, deliberation.AgentConfig{AgentID: "a1", Role: "DEV", Model: "m"}))
	r := e.pollUntilTerminal(t, id, 60*time.Second)
	if r.Status != deliberation.StatusFailed || r.ErrorMessage != "job pending on Ray for more than 3s (resources unavailable)" {
		t.Fatalf("report = %+v, want failed for pending too long", r)
	}
	e.waitGoneFromRay(t, id)
	e.wantStats(t, 1, 0, 0, 1, 0)
}
