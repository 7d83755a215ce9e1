package runnerqueue

import (
	"context"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/app"
)

var _ app.RunnerBacklog = (*Queue)(nil)

// runnerGroup is the consumer group the runners read the queue with ("group" in the contract).
const runnerGroup = "runners"

// Lag counts the attempts enqueued that no runner has taken yet, summed over the shards, in one
// round trip (one per node on a cluster): each stream's length less the entries delivered and not
// acknowledged. A runner acknowledges and deletes an entry in one step when it is done with it, so
// a stream holds only those two kinds. XINFO GROUPS reports a lag too, but only from Redis 7 and
// not on miniredis; this works on both.
func (r *Queue) Lag(ctx context.Context) (int64, error) {
	lengths := make([]*redis.IntCmd, Shards)
	pending := make([]*redis.XPendingCmd, Shards)
	_, _ = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error { // each command's own error is read below
		for s := range Shards {
			lengths[s] = p.XLen(ctx, r.keys.Queue(s))
			pending[s] = p.XPending(ctx, r.keys.Queue(s), runnerGroup)
		}
		return nil
	})
	lag := int64(0)
	for s := range Shards {
		if err := lengths[s].Err(); err != nil {
			return 0, redisError(err, "read the runners' queue lag")
		}
		taken := int64(0)
		switch err := pending[s].Err(); {
		case err == nil:
			taken = pending[s].Val().Count
		case !strings.HasPrefix(err.Error(), "NOGROUP"):
			return 0, redisError(err, "read the runners' queue lag")
		}
		// No group yet means no runner ever read the shard: every entry waits. An entry deleted
		// while still pending (not something the runner does) could make the difference negative.
		lag += max(lengths[s].Val()-taken, 0)
	}
	return lag, nil
}

// QueueLength is how many entries the queue's streams hold, summed over the shards: those waiting
// and those a runner holds (tests and the fault suite wait for it to reach 0).
func QueueLength(ctx context.Context, rdb redis.UniversalClient, k Keys) (int64, error) {
	lengths, err := everyShard(ctx, rdb, func(p redis.Pipeliner, s int) *redis.IntCmd { return p.XLen(ctx, k.Queue(s)) })
	n := int64(0)
	for _, l := range lengths {
		n += l.Val()
	}
	return n, err
}
