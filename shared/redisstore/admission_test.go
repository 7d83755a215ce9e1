package redisstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rayexecutor/functions/internal/storetest"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// idsInShard returns n deliberation ids of shard (or, with shard < 0, of any shard), derived from
// tag so each call has its own.
func idsInShard(tag string, shard, n int) []string {
	var ids []string
	for i := 0; len(ids) < n; i++ {
		if id := deliberation.IDFromKey(fmt.Sprint(tag, i)); shard < 0 || shardOf(id) == shard {
			ids = append(ids, id)
		}
	}
	return ids
}

// TestAdmissionAcrossShards: the limit counts every shard. On one primary (the store's default
// variant) creations racing over every shard never pass it: create.lua counts every shard in the
// step that inserts. In the Redis Cluster variant (run here on the same redis-server) racing
// creations in one shard never pass it (the script reads its own shard's count), and racing ones
// spread over the shards may, as many as race (each may read the others' counts from before any of
// them). Sentinel and a real cluster: TestContractSentinel and TestContractCluster.
func TestAdmissionAcrossShards(t *testing.T) {
	t.Parallel()
	t.Run("one-primary", func(t *testing.T) {
		t.Parallel()
		rdb := realClient(t)
		checkAdmission(t, func(prefix string) *Store { return New(rdb, Options{Prefix: prefix}) }, true)
	})
	t.Run("cluster-variant", func(t *testing.T) {
		t.Parallel()
		rdb := realClient(t)
		checkAdmission(t, func(prefix string) *Store { return New(rdb, Options{Prefix: prefix, Cluster: true}) }, false)
	})
}

// Racing creations against a limit: admissionRacers at once, admissionRuns races of each kind.
const admissionLimit, admissionRacers, admissionRuns = 10, 40, 5

// checkAdmission races creations in one shard, then over every shard, admissionRuns times each, on
// a fresh prefix each time. In one shard exactly the limit is created; over every shard too when
// exact, else at least the limit.
func checkAdmission(t *testing.T, newStore func(prefix string) *Store, exact bool) {
	t.Helper()
	var spread []int64
	for run := range admissionRuns {
		one := fmt.Sprintf("one-shard%d", run)
		if n := admissionRace(t, newStore(one), one, idsInShard(one, 5, admissionRacers)); n != admissionLimit {
			t.Fatalf("run %d: %d racers in one shard created %d, want exactly the limit %d", run, admissionRacers, n, admissionLimit)
		}
		all := fmt.Sprintf("all-shards%d", run)
		n := admissionRace(t, newStore(all), all, idsInShard(all, -1, admissionRacers))
		if exact && n != admissionLimit {
			t.Fatalf("run %d: %d racers over every shard created %d, want exactly the limit %d", run, admissionRacers, n, admissionLimit)
		}
		if n < admissionLimit {
			t.Fatalf("run %d: %d racers over every shard created %d, fewer than the limit %d", run, admissionRacers, n, admissionLimit)
		}
		spread = append(spread, n)
	}
	t.Logf("%d racers over every shard with a limit of %d created %v", admissionRacers, admissionLimit, spread)
}

// admissionRace starts a creation of every id at once, with the limit, and answers how many were
// created, after checking the counters agree and that the next creation is refused.
func admissionRace(t *testing.T, s *Store, prefix string, ids []string) int64 {
	t.Helper()
	req := storetest.Request(t, "task")
	var created atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, id := range ids {
		wg.Go(func() {
			<-start
			_, ok, err := s.Create(context.Background(), storetest.Entry(id, req, 0), req, admissionLimit)
			if ok {
				created.Add(1)
			} else if deliberation.ErrorCode(err) != deliberation.CodeTooMany {
				t.Errorf("Create: %v, want created or too_many", err)
			}
		})
	}
	close(start)
	wg.Wait()
	st, _, err := s.Stats(context.Background())
	if err != nil || st.ActiveDeliberations != created.Load() || st.TotalDeliberations != created.Load() {
		t.Fatalf("stats %+v, %v after %d creations", st, err, created.Load())
	}
	after := deliberation.IDFromKey(prefix + "-after")
	if _, _, err := s.Create(context.Background(), storetest.Entry(after, req, 0), req, admissionLimit); deliberation.ErrorCode(err) != deliberation.CodeTooMany {
		t.Fatalf("a creation after the race: %v, want too_many", err)
	}
	return created.Load()
}
