package wiring_test

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/transport"
	"github.com/rayexecutor/functions/shared/wiring"
)

// TestFunctionOnSentinel wires the combined function (serve dispatch) from REDIS_MODE=sentinel
// and the group's URL, as a deployment would: an execute is accepted, queued for the runner and
// counted, and status and stats read it back through the sentinels' primary. With one primary the
// store is wired for an exact admission limit: executes racing over every shard never pass
// MAX_ACTIVE_DELIBERATIONS.
func TestFunctionOnSentinel(t *testing.T) {
	t.Parallel()
	group := testenv.StartSentinel(t)
	b := wireOn(t, transport.FunctionCombined, map[string]string{"REDIS_MODE": "sentinel", "REDIS_URL": group.URL(),
		"VLLM_URL_ALLOWLIST": "http://127.0.0.1:8000", "MAX_ACTIVE_DELIBERATIONS": fmt.Sprint(sentinelLimit)})
	timeout := 60
	in := deliberation.RequestInput{TaskID: "t-1:story-1:role-DEV", TaskDescription: "Write a rate limiter", Role: "DEV",
		Constraints: deliberation.ConstraintsInput{StoryID: "story-1", TimeoutSeconds: &timeout},
		Agents:      []deliberation.AgentConfig{{AgentID: "dev-1", Role: "DEV", Model: "m-dev"}},
		VLLMURL:     "http://127.0.0.1:8000", VLLMModel: "judge-model"}
	sub, err := b.Execute.Execute(t.Context(), app.ExecuteCommand{Input: in})
	if err != nil {
		t.Fatal(err)
	}
	report, err := b.Status.Status(t.Context(), sub.DeliberationID)
	if err != nil || report.Status.Terminal() {
		t.Fatalf("status after execute: %+v, %v; want it active", report, err)
	}
	stats, err := b.Stats.Stats(t.Context())
	if err != nil || stats.Stats.TotalDeliberations != 1 || stats.Stats.ActiveDeliberations != 1 {
		t.Fatalf("stats after one execute: %+v, %v", stats.Stats, err)
	}
	var accepted atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 4 * sentinelLimit {
		wg.Go(func() {
			race := in
			race.TaskID = fmt.Sprintf("t-race-%d:story-1:role-DEV", i)
			<-start
			_, err := b.Execute.Execute(t.Context(), app.ExecuteCommand{Input: race})
			if err == nil {
				accepted.Add(1)
			} else if deliberation.ErrorCode(err) != deliberation.CodeTooMany {
				t.Errorf("racing execute: %v, want accepted or too_many", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if n := accepted.Load(); n != sentinelLimit-1 {
		t.Fatalf("%d executes racing with 1 active and a limit of %d: %d accepted, want exactly %d", 4*sentinelLimit, sentinelLimit, n, sentinelLimit-1)
	}
}

// sentinelLimit is TestFunctionOnSentinel's MAX_ACTIVE_DELIBERATIONS.
const sentinelLimit = 5

// TestFunctionOnCluster wires the combined function (jobs dispatch, against the fake Ray Jobs
// API) from REDIS_MODE=cluster and a 3-primary cluster's URL, as a deployment would: executes are
// accepted and counted, one completes through status, one is cancelled, and stats and the active
// jobs page read every shard back. Before the sharded layout, execute answered 503 here
// (CROSSSLOT).
func TestFunctionOnCluster(t *testing.T) {
	t.Parallel()
	cluster := testenv.StartCluster(t, 0)
	ray := raytest.New()
	t.Cleanup(ray.Close)
	ray.SetDefaultOutcome(raytest.Succeeds(0, `RAY_EXECUTOR_RESULT v1 {"agent_results":[{"agent_id":"dev-1","proposal":"p","reasoning":"r","score":0.9}],"failures":[],"total_agents":1,"completed_agents":1,"failed_agents":0,"scoring_error":""}`))
	b := wireOn(t, transport.FunctionCombined, map[string]string{"REDIS_MODE": "cluster", "REDIS_URL": cluster.URL(),
		"RAY_DISPATCH": "jobs", "RAY_ADDRESS": ray.URL(), "VLLM_URL_ALLOWLIST": "http://127.0.0.1:8000"})
	timeout := 60
	var ids []string
	for i := range 6 {
		in := deliberation.RequestInput{TaskID: fmt.Sprintf("t-%d:story-1:role-DEV", i), TaskDescription: "Write a rate limiter", Role: "DEV",
			Constraints: deliberation.ConstraintsInput{StoryID: "story-1", TimeoutSeconds: &timeout},
			Agents:      []deliberation.AgentConfig{{AgentID: "dev-1", Role: "DEV", Model: "m-dev"}},
			VLLMURL:     "http://127.0.0.1:8000", VLLMModel: "judge-model"}
		sub, err := b.Execute.Execute(t.Context(), app.ExecuteCommand{Input: in})
		if err != nil {
			t.Fatalf("execute %d on a cluster: %v", i, err)
		}
		ids = append(ids, sub.DeliberationID)
	}
	if _, err := b.Cancel.Cancel(t.Context(), ids[1], "not needed"); err != nil {
		t.Fatalf("cancel on a cluster: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		report, err := b.Status.Status(t.Context(), ids[0])
		if err != nil {
			t.Fatal(err)
		}
		if report.Status == deliberation.StatusCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status of %s: %s, want completed", ids[0], report.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stats, err := b.Stats.Stats(t.Context())
	if st := stats.Stats; err != nil || st.TotalDeliberations != 6 || st.CompletedDeliberations != 1 || st.CancelledDeliberations != 1 ||
		st.ActiveDeliberations != 4 {
		t.Fatalf("stats on a cluster: %+v, %v", stats.Stats, err)
	}
	page, err := b.Jobs.ActiveJobs(t.Context(), 10, "")
	if err != nil || len(page.Jobs) != 4 {
		t.Fatalf("active jobs on a cluster: %d, %v; want the 4 active", len(page.Jobs), err)
	}
}

// TestReadSideOnCluster wires get-stats from REDIS_MODE=cluster and the cluster's URL: stats and
// active jobs visit every shard of the store through the cluster client. The store's writes on a
// cluster are redisstore's TestContractCluster.
func TestReadSideOnCluster(t *testing.T) {
	t.Parallel()
	cluster := testenv.StartCluster(t, 0)
	b := wireOn(t, transport.FunctionStats, map[string]string{"REDIS_MODE": "cluster", "REDIS_URL": cluster.URL()})
	stats, err := b.Stats.Stats(t.Context())
	if err != nil || stats.Stats.TotalDeliberations != 0 {
		t.Fatalf("stats of an empty cluster: %+v, %v", stats.Stats, err)
	}
	if _, err := b.Jobs.ActiveJobs(t.Context(), 10, ""); err != nil {
		t.Fatalf("active jobs of an empty cluster: %v", err)
	}
}

// wireOn loads vars as a function's environment and wires function f from it.
func wireOn(t *testing.T, f transport.Function, vars map[string]string) transport.Backend {
	t.Helper()
	entry := transport.Catalogue[f]
	cfg, err := config.Load(func(k string) string { return vars[k] }, config.Options{NeedsRay: entry.Ports.Ray})
	if err != nil {
		t.Fatal(err)
	}
	b, closeBackend, err := wiring.Adapters(t.Context(), wiring.Env{Config: cfg, Ports: entry.Ports,
		Log: slog.New(slog.DiscardHandler), Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeBackend(t.Context()) })
	return b
}
