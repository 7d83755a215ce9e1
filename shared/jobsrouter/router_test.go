package jobsrouter_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/jobsrouter"
)

var ctx = context.Background()

// Capacities 1 and 3: the fewest outstanding per capacity puts exactly a quarter on the first.
func TestSpreadsByCapacityAndCountsReturnToZero(t *testing.T) {
	t.Parallel()
	r := newRig(t, 2, nil)
	rt := r.router(t, func(ms []jobsrouter.Member) { ms[1].Capacity = 3 })
	var ids []string
	for range 40 {
		d, req := submitted(t)
		if err := rt.Submit(ctx, d, req); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.SubmissionID)
	}
	if got := r.jobs(); !slices.Equal(got, []int{10, 30}) {
		t.Fatalf("jobs per cluster %v, want [10 30]", got)
	}
	if got := r.outstanding(t); !slices.Equal(got, []int64{10, 30}) {
		t.Fatalf("outstanding %v, want [10 30]", got)
	}
	for _, id := range ids {
		r.end(t, id)
		if err := rt.Delete(ctx, id); err != nil {
			t.Fatalf("delete %s: %v", id, err)
		}
	}
	if got := r.outstanding(t); !slices.Equal(got, []int64{0, 0}) {
		t.Fatalf("outstanding after the deletes %v, want [0 0]", got)
	}
	if keys, _ := r.rdb.Keys(ctx, r.prefix+":*").Result(); len(keys) != 0 {
		t.Fatalf("keys left after the deletes: %v", keys)
	}
}

func TestOpenBreakerSkipsACluster(t *testing.T) {
	t.Parallel()
	r := newRig(t, 2, nil)
	rt := r.router(t, nil)
	r.trip(t, 1)
	for range 10 {
		d, req := submitted(t)
		if err := rt.Submit(ctx, d, req); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.jobs(); !slices.Equal(got, []int{10, 0}) {
		t.Fatalf("jobs per cluster %v, want all on ray-1", got)
	}
}

func TestDrainingTakesNoNewAttemptsButAnswersForItsOwn(t *testing.T) {
	t.Parallel()
	r := newRig(t, 2, nil)
	before := r.router(t, func(ms []jobsrouter.Member) { ms[0].Draining = true })
	old, oldReq := submitted(t)
	if err := before.Submit(ctx, old, oldReq); err != nil {
		t.Fatal(err)
	}
	// The operator drains ray-2 now: what it holds is still asked there, nothing new goes to it.
	rt := r.router(t, func(ms []jobsrouter.Member) { ms[1].Draining = true })
	for range 8 {
		d, req := submitted(t)
		if err := rt.Submit(ctx, d, req); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.jobs(); !slices.Equal(got, []int{8, 1}) {
		t.Fatalf("jobs per cluster %v, want [8 1]", got)
	}
	st, err := rt.Status(ctx, old.SubmissionID)
	if err != nil || st.Cluster != "ray-2" || st.State != deliberation.JobPending {
		t.Fatalf("status of the draining cluster's attempt %+v, %v", st, err)
	}
	all := r.router(t, func(ms []jobsrouter.Member) { ms[0].Draining, ms[1].Draining = true, true })
	d, req := submitted(t)
	if err := all.Submit(ctx, d, req); deliberation.ErrorCode(err) != deliberation.CodeUnavailable {
		t.Fatalf("submit with every cluster draining: %v", err)
	}
}

func TestPoolsGoOnlyToTheirClusters(t *testing.T) {
	t.Parallel()
	r := newRig(t, 2, nil)
	rt := r.router(t, func(ms []jobsrouter.Member) { ms[1].Pools = []string{"default", "gpu"} })
	for i := range 12 {
		d, req := submitted(t)
		if i%2 == 0 {
			req.Pool = "gpu"
		}
		if err := rt.Submit(ctx, d, req); err != nil {
			t.Fatal(err)
		}
		if at := r.holders(d.SubmissionID); req.Pool == "gpu" && !slices.Equal(at, []int{1}) {
			t.Fatalf("a gpu attempt on %v", at)
		}
	}
	// ray-2 takes every gpu attempt: the default ones then go mostly to ray-1.
	if got := r.jobs(); got[1] < 6 || got[0]+got[1] != 12 {
		t.Fatalf("jobs per cluster %v", got)
	}
	d, req := submitted(t)
	req.Pool = "tpu"
	if err := rt.Submit(ctx, d, req); deliberation.ErrorCode(err) != deliberation.CodeUnavailable || len(r.holders(d.SubmissionID)) != 0 {
		t.Fatalf("an attempt of a pool nobody serves: %v", err)
	}
}

// A replay goes where the first submit went, even when the load now says otherwise, and another
// replica (a new router on the same Redis) finds the attempt there.
func TestReplayAndOtherReplicasFollowThePlacement(t *testing.T) {
	t.Parallel()
	r := newRig(t, 2, nil)
	rt := r.router(t, func(ms []jobsrouter.Member) { ms[1].Draining = true })
	d, req := submitted(t)
	if err := rt.Submit(ctx, d, req); err != nil {
		t.Fatal(err)
	}
	other := r.router(t, func(ms []jobsrouter.Member) { ms[0].Draining = true })
	for range 3 {
		if err := other.Submit(ctx, d, req); err != nil {
			t.Fatal(err)
		}
	}
	if at := r.holders(d.SubmissionID); !slices.Equal(at, []int{0}) || r.fakes[1].Count("submit") != 0 {
		t.Fatalf("replayed attempt on %v", at)
	}
	st, err := other.Status(ctx, d.SubmissionID)
	if err != nil || st.Cluster != "ray-1" {
		t.Fatalf("status from another replica %+v, %v", st, err)
	}
	r.end(t, d.SubmissionID)
	res, err := other.Result(ctx, d.SubmissionID)
	if err != nil || len(res.AgentResults) != 1 {
		t.Fatalf("result %+v, %v", res, err)
	}
	if err := other.Stop(ctx, d.SubmissionID); err != nil {
		t.Fatal(err)
	}
	if err := other.Delete(ctx, d.SubmissionID); err != nil {
		t.Fatal(err)
	}
	if n := r.fakes[1].Count("get") + r.fakes[1].Count("logs") + r.fakes[1].Count("stop") + r.fakes[1].Count("delete"); n != 0 {
		t.Fatalf("ray-2 was asked %d times about an attempt it does not hold", n)
	}
	if got := r.outstanding(t); !slices.Equal(got, []int64{0, 0}) {
		t.Fatalf("outstanding %v", got)
	}
	if _, err := other.Status(ctx, d.SubmissionID); deliberation.ErrorCode(err) != deliberation.CodeNotFound {
		t.Fatalf("status after the delete: %v", err)
	}
}

// An attempt submitted before the router (or whose placement expired) is found on its cluster,
// and from then on it is placed there.
func TestUnplacedAttemptIsLookedUpEverywhere(t *testing.T) {
	t.Parallel()
	r := newRig(t, 2, nil)
	rt := r.router(t, nil)
	d, req := submitted(t)
	if err := r.clusters[1].Submit(ctx, d, req); err != nil {
		t.Fatal(err)
	}
	st, err := rt.Status(ctx, d.SubmissionID)
	if err != nil || st.Cluster != "ray-2" {
		t.Fatalf("status %+v, %v", st, err)
	}
	if got := r.outstanding(t); !slices.Equal(got, []int64{0, 1}) {
		t.Fatalf("outstanding after the adoption %v", got)
	}
	if err := rt.Stop(ctx, "rxtest-nobody-has-it"); deliberation.ErrorCode(err) != deliberation.CodeNotFound {
		t.Fatalf("stop of an unknown attempt: %v", err)
	}
}

func TestListIsTheUnionAndSkipsAnUnreachableCluster(t *testing.T) {
	t.Parallel()
	r := newRig(t, 2, nil)
	rt := r.router(t, nil)
	for range 4 {
		d, req := submitted(t)
		if err := rt.Submit(ctx, d, req); err != nil {
			t.Fatal(err)
		}
	}
	list, err := rt.List(ctx)
	if err != nil || len(list) != 4 {
		t.Fatalf("list %d, %v", len(list), err)
	}
	r.fakes[1].Close()
	list, err = rt.List(ctx)
	if err != nil || len(list) != 2 || list[0].Status.Cluster != "ray-1" || list[1].Status.Cluster != "ray-1" {
		t.Fatalf("list with ray-2 down: %+v, %v", list, err)
	}
	r.fakes[0].Close()
	if _, err := rt.List(ctx); deliberation.ErrorCode(err) != deliberation.CodeUnavailable {
		t.Fatalf("list with both down: %v", err)
	}
}

// An unreachable cluster's attempt is marked lost only once the cluster has failed for LostAfter
// and another cluster could take the attempt over.
func TestUnreachableClusterMarksItsAttemptsLost(t *testing.T) {
	t.Parallel()
	r := newRig(t, 2, nil)
	rt := r.router(t, func(ms []jobsrouter.Member) { ms[0].Draining = true })
	d, req := submitted(t)
	if err := rt.Submit(ctx, d, req); err != nil {
		t.Fatal(err)
	}
	r.fakes[1].Close()
	other := r.router(t, nil)
	status := func(rt *jobsrouter.Router) (unavailable, lost bool) {
		_, err := rt.Status(ctx, d.SubmissionID)
		return deliberation.ErrorCode(err) == deliberation.CodeUnavailable, errors.Is(err, app.ErrClusterLost)
	}
	for _, rt := range []*jobsrouter.Router{rt, other} {
		if unavailable, lost := status(rt); !unavailable || lost {
			t.Fatalf("at the first failure: unavailable %v, lost %v", unavailable, lost)
		}
	}
	time.Sleep(2 * lostAfter)
	if unavailable, lost := status(rt); !unavailable || lost {
		t.Fatalf("with the only other cluster draining: unavailable %v, lost %v", unavailable, lost)
	}
	if unavailable, lost := status(other); !unavailable || !lost {
		t.Fatalf("failing for %s with ray-1 able to take it: unavailable %v, lost %v", 2*lostAfter, unavailable, lost)
	}
}

// Many goroutines on three replicas submit the same and different attempts at once: every
// attempt lands on exactly one cluster, and the counts match.
func TestConcurrentSubmitsPlaceEachAttemptOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t, 2, nil)
	routers := []*jobsrouter.Router{r.router(t, nil), r.router(t, nil), r.router(t, nil)}
	type attempt struct {
		d   deliberation.Deliberation
		req deliberation.Request
	}
	var attempts []attempt
	for range 30 {
		d, req := submitted(t)
		attempts = append(attempts, attempt{d, req})
	}
	var wg sync.WaitGroup
	for g := range 48 {
		wg.Go(func() {
			for i := g % 5; i < len(attempts); i += 5 {
				if err := routers[(g+i)%3].Submit(ctx, attempts[i].d, attempts[i].req); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for _, a := range attempts {
		if at := r.holders(a.d.SubmissionID); len(at) != 1 {
			t.Fatalf("attempt %s on %v", a.d.SubmissionID, at)
		}
	}
	jobs, out := r.jobs(), r.outstanding(t)
	if jobs[0]+jobs[1] != 30 || int64(jobs[0]) != out[0] || int64(jobs[1]) != out[1] || jobs[0] != 15 {
		t.Fatalf("jobs %v, outstanding %v", jobs, out)
	}
}

// An attempt placed on a cluster the configuration no longer lists (by a replica with an older
// list) is placed again on one it does, and only there.
func TestPlacementOnARemovedClusterIsRedone(t *testing.T) {
	t.Parallel()
	r := newRig(t, 2, nil)
	d, req := submitted(t)
	if _, err := r.rdb.HSet(ctx, r.prefix+":{rayjobs}:placed:"+d.SubmissionID, "cluster", "ray-9").Result(); err != nil {
		t.Fatal(err)
	}
	rt := r.router(t, func(ms []jobsrouter.Member) { ms[0].Draining = true })
	if err := rt.Submit(ctx, d, req); err != nil {
		t.Fatal(err)
	}
	st, err := rt.Status(ctx, d.SubmissionID)
	if err != nil || st.Cluster != "ray-2" || !slices.Equal(r.holders(d.SubmissionID), []int{1}) {
		t.Fatalf("status %+v, %v, held by %v", st, err, r.holders(d.SubmissionID))
	}
}

// On a 3-primary Redis Cluster every script of the router is one slot (a cross-slot one fails),
// and the placement works as on one server.
func TestPlacementOnRedisCluster(t *testing.T) {
	t.Parallel()
	cluster := testenv.StartCluster(t, 0)
	r := newRigOn(t, testenv.ShapeClient(t, config.RedisCluster, cluster.URL()), 2, nil)
	rt := r.router(t, nil)
	var ids []string
	for range 6 {
		d, req := submitted(t)
		if err := rt.Submit(ctx, d, req); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.SubmissionID)
	}
	if got := r.outstanding(t); !slices.Equal(got, []int64{3, 3}) {
		t.Fatalf("outstanding %v", got)
	}
	for _, id := range ids {
		r.end(t, id)
		if err := rt.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.outstanding(t); !slices.Equal(got, []int64{0, 0}) {
		t.Fatalf("outstanding after the deletes %v", got)
	}
}
