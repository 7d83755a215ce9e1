package functest

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/runnerqueue"
	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/wiring"
)

// ValidRequest is an execute request that passes validation.
const ValidRequest = `{"task_id":"task-1","task_description":"Implement the cache","role":"DEV",
 "constraints":{"story_id":"story-1"},
 "agents":[{"agent_id":"a1","role":"DEV","model":"m1"},{"agent_id":"a2","role":"QA","model":"m2"}],
 "vllm_url":"http://127.0.0.1:8000","vllm_model":"judge"}`

// Stack is what a function needs around it: a real redis-server and the fake Ray Jobs API.
type Stack struct {
	Redis *testenv.Redis
	Ray   *raytest.Server
}

// NewStack starts both for one test. Under CI=true a missing redis-server fails the test.
func NewStack(t testing.TB) *Stack {
	t.Helper()
	return &Stack{Redis: testenv.StartRedis(t), Ray: raytest.Start(t)}
}

// ModelServer is the model server ValidRequest names, the one the stack's allowlist admits.
const ModelServer = "http://127.0.0.1:8000"

// Env is the environment that points a function at the stack, with extra settings on top.
func (s *Stack) Env(extra map[string]string) map[string]string {
	env := map[string]string{"REDIS_URL": s.Redis.URL(), "RAY_DISPATCH": "jobs", "RAY_ADDRESS": s.Ray.URL(), "LOG_LEVEL": "debug",
		// The fake Jobs API has no Serve: a function in the serve dispatch must not deploy there.
		"RAY_SERVE_DEPLOY":   "false",
		"VLLM_URL_ALLOWLIST": ModelServer}
	maps.Copy(env, extra)
	return env
}

// UseCases wires the use cases over the stack the way the binaries do, so a test can arrange
// state or check it from the outside.
func (s *Stack) UseCases(t testing.TB) transport.Backend {
	t.Helper()
	return s.UseCasesWith(t, nil)
}

// UseCasesWith is UseCases with extra settings on top of the stack's (RAY_DISPATCH=serve, ...).
func (s *Stack) UseCasesWith(t testing.TB, extra map[string]string) transport.Backend {
	t.Helper()
	cfg, err := config.Load(func(k string) string { return s.Env(extra)[k] }, config.Options{NeedsRay: true})
	if err != nil {
		t.Fatal(err)
	}
	b, closeBackend, err := wiring.Adapters(t.Context(), wiring.Env{Config: cfg, Ports: transport.Catalogue[transport.FunctionCombined].Ports, Log: slog.New(slog.DiscardHandler), Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeBackend(context.Background()) })
	return b
}

// Queued is how many attempts wait in the runners' queue of the stack's Redis (serve dispatch).
func (s *Stack) Queued(t testing.TB) int {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: s.Redis.Addr})
	defer rdb.Close()
	n, err := runnerqueue.QueueLength(t.Context(), rdb, runnerqueue.NewKeys("rayexec"))
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

// Total is how many deliberations the stack's Redis has counted.
func (s *Stack) Total(t testing.TB) int64 {
	t.Helper()
	rep, err := s.UseCases(t).Stats.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return rep.Stats.TotalDeliberations
}

// Seed submits n valid deliberations through the same wiring the binaries use, for tests of the
// functions that only read, and returns their ids.
func (s *Stack) Seed(t testing.TB, n int) []string {
	t.Helper()
	return s.SeedWith(t, n, nil)
}

// SeedWith is Seed with extra settings on top of the stack's.
func (s *Stack) SeedWith(t testing.TB, n int, extra map[string]string) []string {
	t.Helper()
	uc := s.UseCasesWith(t, extra)
	var cmd app.ExecuteCommand
	if err := json.Unmarshal([]byte(ValidRequest), &cmd.Input); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		sub, err := uc.Execute.Execute(t.Context(), cmd)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = sub.DeliberationID
	}
	return ids
}

// AttemptState is the state of an attempt's marker in the runners' keys (serve dispatch).
func (s *Stack) AttemptState(t testing.TB, submissionID string) string {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: s.Redis.Addr})
	defer rdb.Close()
	state, err := rdb.HGet(t.Context(), runnerqueue.NewKeys("rayexec").Attempt(submissionID), "state").Result()
	if err != nil && err != redis.Nil {
		t.Fatal(err)
	}
	return state
}

// SetAttemptState sets the state of an attempt's marker (serve dispatch), as a runner or an
// operator would.
func (s *Stack) SetAttemptState(t testing.TB, submissionID, state string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: s.Redis.Addr})
	defer rdb.Close()
	if err := rdb.HSet(t.Context(), runnerqueue.NewKeys("rayexec").Attempt(submissionID), "state", state).Err(); err != nil {
		t.Fatal(err)
	}
}
