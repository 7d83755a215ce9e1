package runnerqueue_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/redisstore"
	"github.com/rayexecutor/functions/shared/runnerqueue"
)

// TestReconcileTidiesTheQueue runs the reconcile pass in the serve dispatch on a real
// redis-server: an attempt superseded while still queued or running (its deliberation was retried
// under a new submission id) is stopped, then deleted once ended, and an ended attempt whose
// outcome is stored is deleted.
func TestReconcileTidiesTheQueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	const prefix = "sweep"
	q, err := runnerqueue.New(rdb, runnerqueue.Config{Prefix: prefix, Policy: openLimits.JobPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	store := redisstore.New(rdb, redisstore.Options{Prefix: prefix})
	settings := app.DefaultSettings()
	settings.Limits = openLimits
	// The status logic deletes an attempt once its outcome is stored; a Redis blip at that moment
	// leaves the attempt to the sweep.
	ray := &failFirstDelete{RayCluster: q, fail: map[string]bool{}}
	svc := app.NewService(store, ray, nil, settings, nil)
	timeout := 300
	in := deliberation.RequestInput{TaskID: "t", TaskDescription: "d", Role: "DEV",
		Constraints: deliberation.ConstraintsInput{StoryID: "s", TimeoutSeconds: &timeout},
		Agents:      []deliberation.AgentConfig{{AgentID: "a1", Role: "DEV", Model: "m"}}, VLLMURL: "http://vllm:8000", VLLMModel: "j"}
	execute := func() string {
		sub, err := svc.Execute(ctx, app.ExecuteCommand{Input: in})
		if err != nil || sub.Message != app.MessageSubmitted {
			t.Fatalf("Execute = %+v, %v", sub, err)
		}
		return sub.DeliberationID
	}
	start := func(id string) {
		if err := startScript.Run(ctx, rdb, []string{runnerKey(t, "attempt", prefix, id)}, time.Now().UnixMilli(), "ray-1").Err(); err != nil {
			t.Fatal(err)
		}
	}
	// retry moves a deliberation to its next attempt and enqueues it, as the status logic does
	// after an infrastructure failure; here the first attempt is still queued or running.
	retry := func(id string) string {
		d, changed, err := store.Update(ctx, id, func(d deliberation.Deliberation) (deliberation.Deliberation, bool) {
			return d.NextAttempt(time.Now().UTC())
		})
		if err != nil || !changed {
			t.Fatalf("retry %s: %v, %v", id, changed, err)
		}
		req, err := store.Request(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Submit(ctx, d, req); err != nil {
			t.Fatal(err)
		}
		return d.SubmissionID
	}
	state := func(id string) deliberation.JobState {
		st, err := q.Status(ctx, id)
		if deliberation.ErrorCode(err) == deliberation.CodeNotFound {
			return ""
		}
		if err != nil {
			t.Fatal(err)
		}
		return st.State
	}
	listed := func() []string {
		attempts, err := q.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, a := range attempts {
			ids = append(ids, a.SubmissionID)
		}
		slices.Sort(ids)
		return ids
	}

	running, queued, done := execute(), execute(), execute()
	ray.failOnce(done)
	start(running)
	start(done)
	runningNext, queuedNext := retry(running), retry(queued)
	finish(t, rdb, prefix, done)
	if r, err := svc.Status(ctx, done); err != nil || r.Status != deliberation.StatusCompleted {
		t.Fatalf("Status = %+v, %v; want its outcome stored", r, err)
	}
	if got, want := listed(), sorted(running, queued, done, runningNext, queuedNext); !slices.Equal(got, want) {
		t.Fatalf("before the pass, List = %v, want %v", got, want)
	}

	if _, err := svc.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]deliberation.JobState{running: deliberation.JobStopped, queued: deliberation.JobStopped,
		runningNext: deliberation.JobPending, queuedNext: deliberation.JobPending, done: ""} {
		if got := state(id); got != want {
			t.Errorf("after a pass, attempt %s is %q, want %q", id, got, want)
		}
	}
	// The next pass deletes the superseded attempts, now ended; the current ones stay.
	if _, err := svc.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := listed(), sorted(runningNext, queuedNext); !slices.Equal(got, want) {
		t.Fatalf("after two passes, List = %v, want only the current attempts %v", got, want)
	}
	for _, id := range []string{running, queued} {
		if n := rdb.Exists(ctx, runnerKey(t, "attempt", prefix, id), runnerKey(t, "result", prefix, id)).Val(); n != 0 {
			t.Errorf("%d keys of the superseded attempt %s remain", n, id)
		}
	}
}

func sorted(ids ...string) []string {
	slices.Sort(ids)
	return ids
}

// finish stores the runner's record of a succeeded attempt of one agent.
func finish(t *testing.T, rdb *redis.Client, prefix, id string) {
	t.Helper()
	now := time.Now().UnixMilli()
	record := `{"state":"SUCCEEDED","infrastructure":false,"start_time":` + strconv.FormatInt(now-1000, 10) +
		`,"end_time":` + strconv.FormatInt(now, 10) + `,"result":{"agent_results":[{"agent_id":"a1","proposal":"p",` +
		`"reasoning":"","score":0.5}],"failures":[],"total_agents":1,"completed_agents":1,"failed_agents":0,"scoring_error":""}}`
	if err := rdb.Set(context.Background(), runnerKey(t, "result", prefix, id), record, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
}

// failFirstDelete is the queue whose next Delete of the chosen attempts fails as an unreachable
// Redis.
type failFirstDelete struct {
	app.RayCluster
	mu   sync.Mutex
	fail map[string]bool
}

func (f *failFirstDelete) failOnce(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[id] = true
}

func (f *failFirstDelete) Delete(ctx context.Context, id string) error {
	f.mu.Lock()
	fail := f.fail[id]
	delete(f.fail, id)
	f.mu.Unlock()
	if fail {
		return deliberation.Errorf(deliberation.CodeUnavailable, "delete %s: the runners' queue is unavailable", id)
	}
	return f.RayCluster.Delete(ctx, id)
}
