package runnerqueue_test

import (
	"context"
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
			queue := runnerKey(t, "queue", prefix, "")
			if err := rdb.XGroupCreateMkStream(ctx, queue, "runners", "0").Err(); err != nil {
				t.Fatal(err)
			}
			wantLag(5, "once the group exists")
			read, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "runners", Consumer: "replica-1",
				Streams: []string{queue, ">"}, Count: 2}).Result()
			if err != nil || len(read[0].Messages) != 2 {
				t.Fatalf("XREADGROUP = %v, %v", read, err)
			}
			wantLag(3, "with two entries taken")
			done := read[0].Messages[0].ID
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
