package runnerqueue_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/raycontract"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/runnerqueue"
)

// TestMigrateRunnerKeysUnderTheTag starts from a queue the layout before the hash tag wrote
// (<p>:runner:...: two attempts queued, one taken by a runner that stored its result, one still
// pending in the group) and finds, after the migration, every entry (the pending one re-added),
// every marker and record with its expiry, and the index, in the attempts' shards; nothing is
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
	// The old code wrote the same bytes under the untagged names: write them as the single-stream
	// layout did, then give every key its old name.
	done, req := raycontract.Deliberation(t)
	waiting, _ := raycontract.Deliberation(t)
	writeSingleStream(t, rdb, prefix, req, done, waiting)
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
	if err != nil || moved.Keys != 6 || moved.Dropped != 0 || moved.Entries != 2 || moved.Attempts != 3 {
		t.Fatalf("migrate = %+v, %v; want 6 keys under the tag, then 2 entries and 3 markers or records into shards", moved, err)
	}
	if left, _ := rdb.Keys(ctx, prefix+":runner:*").Result(); len(left) != 0 {
		t.Fatalf("left under the old names: %v", left)
	}
	wantInShards(t, rdb, prefix, done, waiting)
	k := runnerqueue.NewKeys(prefix)
	if ttl := rdb.PTTL(ctx, k.Result(done.SubmissionID)).Val(); ttl < 4*time.Hour {
		t.Fatalf("record ttl = %v after the migration, want its 5 h kept", ttl)
	}
	if rdb.HGet(ctx, k.Replicas(), "old-runner").Val() == "" {
		t.Fatal("the replicas' figures were lost")
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

// writeSingleStream writes what the single-stream layout's enqueue wrote for each deliberation
// (its marker, its index entry and its entry in <p>:{runner}:queue), with the same script.
func writeSingleStream(t *testing.T, rdb redis.UniversalClient, prefix string, req deliberation.Request, ds ...deliberation.Deliberation) {
	t.Helper()
	old := prefix + ":{runner}:"
	for _, d := range ds {
		payload, err := req.JobPayload(d.ID, openLimits.JobPolicy())
		if err != nil {
			t.Fatal(err)
		}
		ttl := time.Until(d.Deadline) + time.Hour
		err = runnerqueue.EnqueueScript.Run(context.Background(), rdb, []string{old + "attempt:" + d.SubmissionID, old + "queue", old + "attempts"},
			d.ID, d.SubmissionID, payload, "1900000000.000", "", ttl.Milliseconds(), time.Now().UnixMilli(), "", "", 0).Err()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// wantInShards checks that each deliberation's attempt has exactly one entry, in its shard's
// stream, its marker and index entry in its shard, and that nothing is left under {runner} but
// the replicas' figures and the layout key, which holds the shard count.
func wantInShards(t *testing.T, rdb redis.UniversalClient, prefix string, ds ...deliberation.Deliberation) {
	t.Helper()
	ctx := context.Background()
	k := runnerqueue.NewKeys(prefix)
	for _, d := range ds {
		shard := runnerqueue.ShardOf(d.SubmissionID)
		found := 0
		for s := range runnerqueue.Shards {
			entries, err := rdb.XRange(ctx, k.Queue(s), "-", "+").Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if e.Values["attempt"] == d.SubmissionID {
					found++
					if s != shard {
						t.Errorf("the entry of %s is in shard %d, its shard is %d", d.SubmissionID, s, shard)
					}
				}
			}
		}
		if found != 1 {
			t.Errorf("the attempt %s has %d entries in the shards, want 1", d.SubmissionID, found)
		}
		if rdb.Exists(ctx, k.Attempt(d.SubmissionID)).Val() != 1 {
			t.Errorf("the marker of %s is not in its shard", d.SubmissionID)
		}
		if _, err := rdb.ZScore(ctx, k.Index(shard), d.SubmissionID).Result(); err != nil {
			t.Errorf("the index of shard %d lacks %s: %v", shard, d.SubmissionID, err)
		}
	}
	for _, key := range []string{prefix + ":{runner}:queue", prefix + ":{runner}:attempts"} {
		if rdb.Exists(ctx, key).Val() != 0 {
			t.Errorf("%s is left after the migration", key)
		}
	}
	if got := rdb.Get(ctx, k.Layout()).Val(); got != strconv.Itoa(runnerqueue.Shards) {
		t.Errorf("layout key = %q, want %d", got, runnerqueue.Shards)
	}
}

// TestMigrateSingleStreamIntoShards starts, on a redis-server and on a 3-primary Cluster, from a
// queue the single-stream layout wrote (<p>:{runner}:...: twelve attempts queued, three of them
// read by a replica that stopped, so pending in the group; one with a result), and finds every
// attempt once in its shard's stream, pending ones included, every marker, record and index entry
// in its shard, the layout key set; the runners then read each shard. A run cut short after some
// entries were re-added adds none twice.
func TestMigrateSingleStreamIntoShards(t *testing.T) {
	t.Parallel()
	shapes := map[string]redis.UniversalClient{
		"redis-server": redis.NewClient(&redis.Options{Addr: testenv.StartRedis(t).Addr}),
		"cluster":      testenv.ShapeClient(t, config.RedisCluster, testenv.StartCluster(t, 0).URL()),
	}
	for name, rdb := range shapes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			prefix := uniqueID("single")
			q, err := runnerqueue.New(rdb, runnerqueue.Config{Prefix: prefix, Policy: openLimits.JobPolicy()})
			if err != nil {
				t.Fatal(err)
			}
			var ds []deliberation.Deliberation
			var req deliberation.Request
			for range 12 {
				var d deliberation.Deliberation
				d, req = raycontract.Deliberation(t)
				ds = append(ds, d)
			}
			writeSingleStream(t, rdb, prefix, req, ds...)
			queue := prefix + ":{runner}:queue"
			if err := rdb.XGroupCreate(ctx, queue, "runners", "0").Err(); err != nil {
				t.Fatal(err)
			}
			if err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "runners", Consumer: "stopped-replica",
				Streams: []string{queue, ">"}, Count: 3}).Err(); err != nil {
				t.Fatal(err)
			}
			rdb.HSet(ctx, prefix+":{runner}:attempt:"+ds[0].SubmissionID, "state", "RUNNING", "started_at", "1700000000000")
			rdb.Set(ctx, prefix+":{runner}:result:"+ds[0].SubmissionID, `{"state":"SUCCEEDED","infrastructure":false,"start_time":1700000000000,"end_time":1700000001000,"result":`+raycontract.ResultJSON+`}`, 5*time.Hour)
			// A run cut short: one entry already re-added in its shard, still in the old stream.
			first, err := rdb.XRangeN(ctx, queue, "-", "+", 1).Result()
			if err != nil || len(first) != 1 {
				t.Fatalf("old stream: %v, %v", first, err)
			}
			again := map[string]any{"moved_from": queue + "/" + first[0].ID}
			for f, v := range first[0].Values {
				again[f] = v
			}
			attempt, _ := first[0].Values["attempt"].(string)
			rdb.XAdd(ctx, &redis.XAddArgs{Stream: runnerqueue.NewKeys(prefix).Queue(runnerqueue.ShardOf(attempt)), Values: again})

			moved, err := runnerqueue.Migrate(ctx, rdb, prefix)
			if err != nil || moved.Entries != 11 || moved.Attempts != 13 {
				t.Fatalf("migrate = %+v, %v; want 11 entries re-added (one was) and 13 markers and records moved", moved, err)
			}
			wantInShards(t, rdb, prefix, ds...)
			wantState(t, q, ds[0].SubmissionID, deliberation.JobSucceeded)
			wantState(t, q, ds[1].SubmissionID, deliberation.JobPending)
			if lag, err := q.Lag(ctx); err != nil || lag != 12 {
				t.Fatalf("lag = %d, %v; want all 12 entries waiting, the 3 pending ones re-added", lag, err)
			}
			listed, err := q.List(ctx)
			if err != nil || len(listed) != 12 {
				t.Fatalf("list = %d attempts, %v; want 12", len(listed), err)
			}
			if again, err := runnerqueue.Migrate(ctx, rdb, prefix); err != nil || again != (runnerqueue.Moved{}) {
				t.Fatalf("second run = %+v, %v; want nothing moved", again, err)
			}
		})
	}
}

// TestAnotherShardCountIsRefusedThenMigrated: a queue whose layout key holds another shard count
// is refused by the enqueue (unavailable, nothing written), and Migrate moves that layout's
// shards into this build's, after which the enqueue works.
func TestAnotherShardCountIsRefusedThenMigrated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.StartRedis(t).Addr})
	t.Cleanup(func() { rdb.Close() })
	const prefix = "reshard"
	k := runnerqueue.NewKeys(prefix)
	// A queue of 3 shards: an attempt written to old shard 2, where this build would not look.
	d, req := raycontract.Deliberation(t)
	for runnerqueue.ShardOf(d.SubmissionID) == 2 {
		d, req = raycontract.Deliberation(t)
	}
	old := prefix + ":{runner:s02}:"
	rdb.Set(ctx, k.Layout(), "3", 0)
	payload, _ := req.JobPayload(d.ID, openLimits.JobPolicy())
	if err := runnerqueue.EnqueueScript.Run(ctx, rdb, []string{old + "attempt:" + d.SubmissionID, old + "queue", old + "attempts"},
		d.ID, d.SubmissionID, payload, "1900000000.000", "", time.Hour.Milliseconds(), time.Now().UnixMilli(), "", "", 0).Err(); err != nil {
		t.Fatal(err)
	}
	q, err := runnerqueue.New(rdb, runnerqueue.Config{Prefix: prefix, Policy: openLimits.JobPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := raycontract.Deliberation(t)
	err = q.Submit(ctx, other, req)
	if deliberation.ErrorCode(err) != deliberation.CodeUnavailable || !strings.Contains(err.Error(), "migrate-keys") {
		t.Fatalf("submit on a queue of 3 shards = %v; want unavailable, naming make migrate-keys", err)
	}
	if n := rdb.Exists(ctx, k.Attempt(other.SubmissionID)).Val(); n != 0 {
		t.Fatal("the refused enqueue wrote its marker")
	}
	moved, err := runnerqueue.Migrate(ctx, rdb, prefix)
	if err != nil || moved.Entries != 1 || moved.Attempts != 1 {
		t.Fatalf("migrate = %+v, %v; want the old shard's entry and marker moved", moved, err)
	}
	wantInShards(t, rdb, prefix, d)
	if err := q.Submit(ctx, other, req); err != nil {
		t.Fatalf("submit after the migration: %v", err)
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
