package jobsrouter_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/raycontract"
	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/jobsrouter"
	"github.com/rayexecutor/functions/shared/rayjobs"
)

// rig is two (or more) fake Jobs APIs, one rayjobs adapter on each, and a real redis-server.
type rig struct {
	rdb      redis.UniversalClient
	prefix   string
	fakes    []*raytest.Server
	clusters []*rayjobs.Cluster
	members  []jobsrouter.Member
}

// lostAfter is how long the rig's clusters must fail before their attempts are reported lost.
const lostAfter = 100 * time.Millisecond

var names = []string{"ray-1", "ray-2", "ray-3"}

// newRig starts n fakes whose jobs stay PENDING until a test moves them.
func newRig(t *testing.T, n int, change func(i int, cfg *rayjobs.ClientConfig)) *rig {
	t.Helper()
	srv := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	return newRigOn(t, rdb, n, change)
}

// newRigOn is newRig on a given Redis (a Redis Cluster, say).
func newRigOn(t *testing.T, rdb redis.UniversalClient, n int, change func(i int, cfg *rayjobs.ClientConfig)) *rig {
	t.Helper()
	r := &rig{rdb: rdb, prefix: raytest.UniqueID("router")}
	owner := raytest.UniqueID("owner")
	for i := range n {
		s := raytest.Start(t)
		s.SetDefaultOutcome(raytest.Outcome{PendFor: raytest.Forever})
		cfg := rayjobs.ClientConfig{Address: s.URL(), Timeout: 2 * time.Second, RetryBackoff: 5 * time.Millisecond,
			MaxAttempts: 1, BreakerOpenFor: time.Minute}
		if change != nil {
			change(i, &cfg)
		}
		c, err := rayjobs.NewCluster(rayjobs.Config{ClientConfig: cfg, Entrypoint: "python job.py", Owner: owner,
			Policy: raycontract.Limits.JobPolicy()})
		if err != nil {
			t.Fatal(err)
		}
		r.fakes, r.clusters = append(r.fakes, s), append(r.clusters, c)
		r.members = append(r.members, jobsrouter.Member{Name: names[i], Port: c, Pools: []string{deliberation.DefaultPool},
			Capacity: 1, Breaker: c.Client().BreakerState})
	}
	return r
}

// router is a router over the rig's members as changed (another function replica, when called
// again), on the same Redis.
func (r *rig) router(t *testing.T, change func(ms []jobsrouter.Member)) *jobsrouter.Router {
	t.Helper()
	ms := make([]jobsrouter.Member, len(r.members))
	for i, m := range r.members {
		m.Pools = append([]string(nil), m.Pools...)
		ms[i] = m
	}
	if change != nil {
		change(ms)
	}
	rt, err := jobsrouter.New(r.rdb, ms, jobsrouter.Options{Prefix: r.prefix, LostAfter: lostAfter,
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// holders are the indexes of the fakes that hold a job under id.
func (r *rig) holders(id string) []int {
	var at []int
	for i, s := range r.fakes {
		if _, ok := s.Job(id); ok {
			at = append(at, i)
		}
	}
	return at
}

// jobs counts the jobs on each fake.
func (r *rig) jobs() []int {
	n := make([]int, len(r.fakes))
	for i, s := range r.fakes {
		n[i] = len(s.Jobs())
	}
	return n
}

// outstanding reads each cluster's outstanding count from Redis.
func (r *rig) outstanding(t *testing.T) []int64 {
	t.Helper()
	n := make([]int64, len(r.fakes))
	for i := range r.fakes {
		c, err := r.rdb.ZCard(context.Background(), r.prefix+":{rayjobs}:out:"+names[i]).Result()
		if err != nil {
			t.Fatal(err)
		}
		n[i] = c
	}
	return n
}

// end makes the job id SUCCEEDED a while ago on whichever fake holds it, so it may be deleted.
func (r *rig) end(t *testing.T, id string) {
	t.Helper()
	for _, s := range r.fakes {
		s.UpdateJob(id, func(j *raytest.Job) {
			j.Status, j.StartTime = deliberation.JobSucceeded, time.Now().Add(-time.Minute).UnixMilli()
			j.EndTime = time.Now().Add(-30 * time.Second).UnixMilli()
			j.Logs = rayjobs.ResultPrefix + raycontract.ResultJSON + "\n"
		})
	}
}

// trip opens the breaker of cluster i: its fake answers 503 to everything until it opens.
func (r *rig) trip(t *testing.T, i int) {
	t.Helper()
	r.fakes[i].Inject(raytest.Fault{Status: 503, Body: "down"})
	for range 20 {
		if r.clusters[i].Client().BreakerState() == "open" {
			return
		}
		_, _ = r.clusters[i].Client().Version(context.Background())
	}
	t.Fatalf("breaker of %s not open", names[i])
}

func submitted(t *testing.T) (deliberation.Deliberation, deliberation.Request) {
	return raycontract.Deliberation(t)
}
