package runnerqueue

import (
	"context"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

var _ app.RunnerBacklog = (*Queue)(nil)

// runnerGroup is the consumer group the runners read the queue with ("group" in the contract).
const runnerGroup = "runners"

// Lag counts the attempts enqueued that no runner has taken yet, summed over the shards of every
// pool the functions know (Config.Pools), in one round trip (one per node on a cluster): each
// stream's length less the entries delivered and not acknowledged. A runner acknowledges and
// deletes an entry in one step when it is done with it, so a stream holds only those two kinds.
// XINFO GROUPS reports a lag too, but only from Redis 7 and not on miniredis; this works on both.
func (r *Queue) Lag(ctx context.Context) (int64, error) {
	streams := r.streams()
	lengths := make([]*redis.IntCmd, len(streams))
	pending := make([]*redis.XPendingCmd, len(streams))
	_, _ = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error { // each command's own error is read below
		for i, stream := range streams {
			lengths[i] = p.XLen(ctx, stream)
			pending[i] = p.XPending(ctx, stream, runnerGroup)
		}
		return nil
	})
	lag := int64(0)
	for i := range streams {
		if err := lengths[i].Err(); err != nil {
			return 0, redisError(err, "read the runners' queue lag")
		}
		taken := int64(0)
		switch err := pending[i].Err(); {
		case err == nil:
			taken = pending[i].Val().Count
		case !strings.HasPrefix(err.Error(), "NOGROUP"):
			return 0, redisError(err, "read the runners' queue lag")
		}
		// No group yet means no runner ever read the stream (none serving its pool yet): every
		// entry waits. An entry deleted while still pending (not something the runner does) could
		// make the difference negative.
		lag += max(lengths[i].Val()-taken, 0)
	}
	return lag, nil
}

// streams are the streams of every shard of the pools Lag sums.
func (r *Queue) streams() []string {
	out := make([]string, 0, len(r.pools)*Shards)
	for _, pool := range r.pools {
		for s := range Shards {
			out = append(out, r.keys.PoolQueue(s, pool))
		}
	}
	return out
}

// QueueLength is how many entries the queue's streams hold, summed over the shards of the pools
// given (the default pool's when none is): those waiting and those a runner holds (tests and the
// fault suite wait for it to reach 0).
func QueueLength(ctx context.Context, rdb redis.UniversalClient, k Keys, pools ...string) (int64, error) {
	if len(pools) == 0 {
		pools = []string{deliberation.DefaultPool}
	}
	n := int64(0)
	for _, pool := range pools {
		lengths, err := everyShard(ctx, rdb, func(p redis.Pipeliner, s int) *redis.IntCmd { return p.XLen(ctx, k.PoolQueue(s, pool)) })
		if err != nil {
			return 0, err
		}
		for _, l := range lengths {
			n += l.Val()
		}
	}
	return n, nil
}
