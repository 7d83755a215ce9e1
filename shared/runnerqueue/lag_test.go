package runnerqueue_test

import (
	"context"
	"errors"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/raycontract"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/runnerqueue"
)

// TestLagCountsWhatNoRunnerTook drives the queue as the runners do (XREADGROUP, then XACK and
// XDEL in one step) and checks that Lag counts only the entries no runner has read, on both servers.
func TestLagCountsWhatNoRunnerTook(t *testing.T) {
	t.Parallel()
	for name, rdb := range runnerServers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			prefix := uniqueID("lag")
			q, err := runnerqueue.New(rdb, runnerqueue.Config{Prefix: prefix, Policy: openLimits.JobPolicy()})
			if err != nil {
				t.Fatal(err)
			}
			wantLag := func(want int64, when string) {
				t.Helper()
				if got, err := q.Lag(ctx); err != nil || got != want {
					t.Fatalf("lag %s = %d, %v; want %d", when, got, err, want)
				}
			}
			wantLag(0, "of a queue never written")
			for range 5 {
				d, req := raycontract.Deliberation(t)
				if err := q.Submit(ctx, d, req); err != nil {
					t.Fatal(err)
				}
			}
			wantLag(5, "before any runner created the group")
			keys := runnerqueue.NewKeys(prefix)
			for s := range runnerqueue.Shards {
				if err := rdb.XGroupCreateMkStream(ctx, keys.Queue(s), "runners", "0").Err(); err != nil {
					t.Fatal(err)
				}
			}
			wantLag(5, "once the groups exist")
			// Two entries taken, from whichever shards hold them, as the runner reads.
			var taken []redis.XStream
			for s := 0; s < runnerqueue.Shards && len(taken) < 2; s++ {
				read, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "runners", Consumer: "replica-1",
					Streams: []string{keys.Queue(s), ">"}, Count: 1, Block: -1}).Result()
				if err == nil {
					taken = append(taken, read...)
				} else if !errors.Is(err, redis.Nil) {
					t.Fatal(err)
				}
			}
			if len(taken) != 2 {
				t.Fatalf("took %d entries, want 2", len(taken))
			}
			wantLag(3, "with two entries taken")
			queue, done := taken[0].Stream, taken[0].Messages[0].ID
			pipe := rdb.TxPipeline()
			pipe.XAck(ctx, queue, "runners", done)
			pipe.XDel(ctx, queue, done)
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
			wantLag(3, "with one taken entry done")
		})
	}
}

func TestLagWithRedisDownIsUnavailable(t *testing.T) {
	t.Parallel()
	mini := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mini.Addr(), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	q, err := runnerqueue.New(rdb, runnerqueue.Config{Prefix: "px"})
	if err != nil {
		t.Fatal(err)
	}
	mini.Close()
	if _, err := q.Lag(context.Background()); deliberation.ErrorCode(err) != deliberation.CodeUnavailable {
		t.Fatalf("lag with Redis down: %v, want unavailable", err)
	}
}
