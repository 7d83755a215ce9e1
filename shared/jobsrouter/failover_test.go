package jobsrouter_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/raycontract"
	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/jobsrouter"
	"github.com/rayexecutor/functions/shared/redisstore"
)

// service is a function replica on the rig's Redis, its Ray port a router as changed.
func (r *rig) service(t *testing.T, pendingLimit time.Duration, change func([]jobsrouter.Member)) *app.Service {
	t.Helper()
	settings := app.DefaultSettings()
	settings.Limits = raycontract.Limits
	settings.CheckPeriod, settings.RepairAge, settings.PendingLimit = time.Millisecond, 50*time.Millisecond, pendingLimit
	return app.NewService(redisstore.New(r.rdb, redisstore.Options{Prefix: r.prefix}), r.router(t, change), nil, settings, nil)
}

// A deliberation whose cluster goes away is retried once, past the pending limit, on the other
// cluster, however many replicas poll it at once; there it completes, naming its new cluster.
func TestLostClusterEndsAsOneRetryElsewhere(t *testing.T) {
	t.Parallel()
	r := newRig(t, 2, nil)
	onTwo := r.service(t, time.Hour, func(ms []jobsrouter.Member) { ms[0].Draining = true })
	timeout, retries := 120, 2
	in := deliberation.RequestInput{TaskID: "t-1", TaskDescription: "Write a parser", Role: "DEV",
		Constraints: deliberation.ConstraintsInput{StoryID: "s-1", TimeoutSeconds: &timeout, MaxRetries: &retries},
		Agents:      []deliberation.AgentConfig{{AgentID: "a1", Role: "DEV", Model: "m1"}, {AgentID: "a2", Role: "QA", Model: "m2"}},
		VLLMURL:     "http://vllm:8000", VLLMModel: "judge"}
	sub, err := onTwo.Execute(ctx, app.ExecuteCommand{Input: in})
	if err != nil {
		t.Fatal(err)
	}
	id := sub.DeliberationID
	if at := r.holders(id); !slices.Equal(at, []int{1}) {
		t.Fatalf("first attempt on %v, want ray-2", at)
	}
	if _, err := onTwo.Status(ctx, id); err != nil {
		t.Fatal(err)
	}
	if d, err := onTwo.Store.Get(ctx, id); err != nil || d.Cluster != "ray-2" {
		t.Fatalf("placed on %q, %v", d.Cluster, err)
	}
	r.fakes[1].Close()
	r.fakes[0].SetDefaultOutcome(raytest.Outcome{}) // the next attempt runs at once

	const limit = 300 * time.Millisecond
	replicas := []*app.Service{r.service(t, limit, nil), r.service(t, limit, nil), r.service(t, limit, nil)}
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
				if i%2 == 0 {
					_, _ = replicas[i%3].Status(ctx, id)
				} else {
					_, _ = replicas[i%3].Reconcile(ctx)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	d, err := replicas[0].Store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	next := deliberation.SubmissionID(id, 2)
	if d.Attempts != 2 || d.SubmissionID != next || d.Cluster != "ray-1" || !slices.Equal(r.holders(next), []int{0}) {
		t.Fatalf("after the loss: attempts %d, current %s on %q, held by %v", d.Attempts, d.SubmissionID, d.Cluster, r.holders(next))
	}
	r.end(t, next)
	rep, err := replicas[1].Status(ctx, id)
	if err != nil || rep.Status != deliberation.StatusCompleted {
		t.Fatalf("final %+v, %v", rep, err)
	}
}
