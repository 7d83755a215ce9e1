package runnerqueue_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/raycontract"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/runnerqueue"
)

// TestMigrateRunnerKeysUnderTheTag starts from a queue the layout before the hash tag wrote
// (<p>:runner:...: two attempts queued, one taken by a runner that stored its result, one still
// pending in the group) and finds, after the migration, every entry, the group's pending entry,
// every marker and record with its expiry, and the index, under <p>:{runner}:...; nothing is
// left under the old names, and a second run moves nothing.
func TestMigrateRunnerKeysUnderTheTag(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.StartRedis(t).Addr})
	t.Cleanup(func() { rdb.Close() })
	const prefix = "up"
	q, err := runnerqueue.New(rdb, runnerqueue.Config{Prefix: prefix, Policy: openLimits.JobPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	// The old code wrote the same bytes under the untagged names: write them with this code,
	// then give every key its old name.
	done, req := raycontract.Deliberation(t)
	waiting, _ := raycontract.Deliberation(t)
	for _, d := range []deliberation.Deliberation{done, waiting} {
		if err := q.Submit(ctx, d, req); err != nil {
			t.Fatal(err)
		}
	}
	queue := prefix + ":{runner}:queue"
	rdb.XGroupCreate(ctx, queue, "runners", "0")
	if err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "runners", Consumer: "old-runner", Streams: []string{queue, ">"}, Count: 1}).Err(); err != nil {
		t.Fatal(err)
	}
	rdb.HSet(ctx, prefix+":{runner}:attempt:"+done.SubmissionID, "state", "RUNNING", "started_at", "1700000000000")
	rdb.Set(ctx, prefix+":{runner}:result:"+done.SubmissionID, `{"state":"SUCCEEDED","infrastructure":false,"start_time":1700000000000,"end_time":1700000001000,"result":`+raycontract.ResultJSON+`}`, 5*time.Hour)
	rdb.HSet(ctx, prefix+":{runner}:replicas", "old-runner", `{"in_flight":1}`)
	tagged, _ := rdb.Keys(ctx, prefix+":{runner}:*").Result()
	for _, key := range tagged {
		if err := rdb.Rename(ctx, key, strings.Replace(key, ":{runner}:", ":runner:", 1)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if len(tagged) != 6 {
		t.Fatalf("wrote %d old keys, want 6 (queue, 2 markers, a record, index, replicas): %v", len(tagged), tagged)
	}

	moved, err := runnerqueue.Migrate(ctx, rdb, prefix)
	if err != nil || moved.Keys != 6 || moved.Dropped != 0 {
		t.Fatalf("migrate = %+v, %v; want 6 keys moved", moved, err)
	}
	if left, _ := rdb.Keys(ctx, prefix+":runner:*").Result(); len(left) != 0 {
		t.Fatalf("left under the old names: %v", left)
	}
	if n := rdb.XLen(ctx, queue).Val(); n != 2 {
		t.Fatalf("queue holds %d entries after the migration, want 2", n)
	}
	pending, err := rdb.XPending(ctx, queue, "runners").Result()
	if err != nil || pending.Count != 1 || pending.Consumers["old-runner"] != 1 {
		t.Fatalf("group's pending = %+v, %v; want the old runner's one entry, to be claimed", pending, err)
	}
	if ttl := rdb.PTTL(ctx, prefix+":{runner}:result:"+done.SubmissionID).Val(); ttl < 4*time.Hour {
		t.Fatalf("record ttl = %v after the migration, want its 5 h kept", ttl)
	}
	wantState(t, q, done.SubmissionID, deliberation.JobSucceeded)
	wantState(t, q, waiting.SubmissionID, deliberation.JobPending)
	listed, err := q.List(ctx)
	if err != nil || len(listed) != 2 {
		t.Fatalf("list = %v, %v; want both attempts from the moved index", listed, err)
	}
	if again, err := runnerqueue.Migrate(ctx, rdb, prefix); err != nil || again != (runnerqueue.Moved{}) {
		t.Fatalf("second run = %+v, %v; want nothing moved", again, err)
	}
}

// TestMigrateRefusesTwoQueues: a stream under both names is an error, and both are kept.
func TestMigrateRefusesTwoQueues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.StartRedis(t).Addr})
	t.Cleanup(func() { rdb.Close() })
	rdb.XAdd(ctx, &redis.XAddArgs{Stream: "two:runner:queue", Values: []any{"attempt", "a"}})
	rdb.XAdd(ctx, &redis.XAddArgs{Stream: "two:{runner}:queue", Values: []any{"attempt", "b"}})
	if _, err := runnerqueue.Migrate(ctx, rdb, "two"); err == nil || !strings.Contains(err.Error(), "both") {
		t.Fatalf("migrate = %v, want an error naming both queues", err)
	}
	if n := rdb.Exists(ctx, "two:runner:queue", "two:{runner}:queue").Val(); n != 2 {
		t.Fatalf("%d of the two queues left, want both", n)
	}
}
