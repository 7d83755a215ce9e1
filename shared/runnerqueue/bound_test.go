package runnerqueue_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/raycontract"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/runnerqueue"
)

// TestStreamIsBoundedWithoutTrimming: at its bound a shard's stream refuses an enqueue
// (unavailable: the deliberation waits for a later submission) and keeps every entry it holds, read
// or not, so no runner loses work; once a runner acknowledged and deleted one, the next enqueue fits.
// MaxLength is spread over the shards: 3 a shard here.
func TestStreamIsBoundedWithoutTrimming(t *testing.T) {
	t.Parallel()
	for name, rdb := range runnerServers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			prefix := uniqueID("bound")
			q, err := runnerqueue.New(rdb, runnerqueue.Config{Prefix: prefix, Policy: openLimits.JobPolicy(), MaxLength: int64(3 * runnerqueue.Shards)})
			if err != nil {
				t.Fatal(err)
			}
			inShard := sameShard(t, 4)
			queue := runnerKey(t, "queue", prefix, inShard[0].d.SubmissionID)
			var ids []string
			for _, s := range inShard[:3] {
				if err := q.Submit(ctx, s.d, s.req); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, s.d.SubmissionID)
			}
			if err := rdb.XGroupCreateMkStream(ctx, queue, "runners", "0").Err(); err != nil {
				t.Fatal(err)
			}
			read, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "runners", Consumer: "r1",
				Streams: []string{queue, ">"}, Count: 1}).Result()
			if err != nil || len(read[0].Messages) != 1 {
				t.Fatalf("XREADGROUP = %v, %v", read, err)
			}
			over, req := inShard[3].d, inShard[3].req
			if err := q.Submit(ctx, over, req); deliberation.ErrorCode(err) != deliberation.CodeUnavailable {
				t.Fatalf("an enqueue at the bound: %v, want unavailable", err)
			}
			entries, err := rdb.XRange(ctx, queue, "-", "+").Result()
			if err != nil || len(entries) != 3 {
				t.Fatalf("the stream at its bound holds %d entries (%v), want the 3 it took", len(entries), err)
			}
			for i, e := range entries {
				if e.Values["attempt"] != ids[i] {
					t.Fatalf("entry %d is %v, want %s: an entry was trimmed", i, e.Values["attempt"], ids[i])
				}
			}
			if st, err := q.Status(ctx, over.SubmissionID); deliberation.ErrorCode(err) != deliberation.CodeNotFound {
				t.Fatalf("the refused attempt left a marker: %+v, %v", st, err)
			}
			done := read[0].Messages[0].ID
			pipe := rdb.TxPipeline()
			pipe.XAck(ctx, queue, "runners", done)
			pipe.XDel(ctx, queue, done)
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
			if err := q.Submit(ctx, over, req); err != nil {
				t.Fatalf("an enqueue once a runner was done with one: %v", err)
			}
		})
	}
}

type submission struct {
	d   deliberation.Deliberation
	req deliberation.Request
}

// sameShard makes n deliberations whose attempts fall in one shard of the queue.
func sameShard(t *testing.T, n int) []submission {
	t.Helper()
	byShard := map[int][]submission{}
	for {
		d, req := raycontract.Deliberation(t)
		s := runnerqueue.ShardOf(d.SubmissionID)
		if byShard[s] = append(byShard[s], submission{d, req}); len(byShard[s]) == n {
			return byShard[s]
		}
	}
}
