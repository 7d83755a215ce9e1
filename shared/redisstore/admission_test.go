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

// TestAdmissionAcrossShards: the limit counts every shard. Racing creations in one shard never
// pass it (the script reads its own shard's count); racing creations spread over the shards may
// pass it, as many as race (each may read the others' counts from before any of them), and once
// they are in, the next creation is refused.
func TestAdmissionAcrossShards(t *testing.T) {
	t.Parallel()
	rdb := realClient(t)
	const limit, racers = 10, 40
	race := func(prefix string, ids []string) int64 {
		s := New(rdb, Options{Prefix: prefix})
		req := storetest.Request(t, "task")
		var created atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, id := range ids {
			wg.Go(func() {
				<-start
				_, ok, err := s.Create(context.Background(), storetest.Entry(id, req, 0), req, limit)
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
		if _, _, err := s.Create(context.Background(), storetest.Entry(after, req, 0), req, limit); deliberation.ErrorCode(err) != deliberation.CodeTooMany {
			t.Fatalf("a creation after the race: %v, want too_many", err)
		}
		return created.Load()
	}
	if n := race("one-shard", idsInShard("one", 5, racers)); n != limit {
		t.Fatalf("%d racers in one shard created %d, want exactly the limit %d", racers, n, limit)
	}
	n := race("all-shards", idsInShard("all", -1, racers))
	if n < limit {
		t.Fatalf("%d racers over every shard created %d, fewer than the limit %d", racers, n, limit)
	}
	t.Logf("%d racers over every shard with a limit of %d created %d", racers, limit, n)
}
