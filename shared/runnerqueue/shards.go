package runnerqueue

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// Shards is how many shards the queue is split into: the contract's "shards"
// (contract/runner_queue.json, which the runner reads; TestShardsFollowTheContract keeps the two
// equal, since an adapter does not import the runner's package). Each shard has its own stream,
// index and tag {runner:sNN}, so the enqueue, the stop, the delete and the runner's start and store
// each touch one Redis Cluster slot, and the queue spreads over the primaries instead of sitting on
// one.
const Shards = 8

// ShardOf is the shard of a submission id: CRC-32 (IEEE) modulo Shards, as the runner's
// queue_contract.shard_of computes it (zlib.crc32).
func ShardOf(submissionID string) int {
	return int(crc32.ChecksumIEEE([]byte(submissionID)) % uint32(Shards))
}

// Keys spells the queue's keys under a prefix (contract/runner_queue.json):
//
//	<p>:{runner:sNN}:queue          the stream of shard NN, read by the group "runners" (the default pool)
//	<p>:{runner:sNN}:queue:<pool>   the stream of pool <pool> in shard NN (PoolQueue)
//	<p>:{runner:sNN}:attempt:<id>   an attempt's marker      <p>:{runner:sNN}:attempts  the shard's index
//	<p>:{runner:sNN}:result:<id>    the runner's record      <p>:{runner}:replicas      the replicas' figures
//	<p>:{runner}:shards             the shard count the queue was written with (CheckLayout)
//	<p>:{runner}:clusters           the clusters' draining states the runners follow (WriteClusters)
type Keys struct {
	prefix string
	heads  []string // "<p>:{runner:sNN}" of every shard, built once
}

// NewKeys returns the keys under prefix.
func NewKeys(prefix string) Keys {
	k := Keys{prefix: prefix, heads: make([]string, Shards)}
	for s := range Shards {
		k.heads[s] = fmt.Sprintf("%s:{runner:s%02d}", prefix, s)
	}
	return k
}

// Queue is the stream of shard s of the default pool.
func (k Keys) Queue(s int) string { return k.heads[s] + ":queue" }

// PoolQueue is the stream of pool in shard s: the default pool keeps the stream of before pools
// (Queue), any other pool has its own beside it, under the same tag, so an enqueue stays one slot.
func (k Keys) PoolQueue(s int, pool string) string {
	if pool == "" || pool == deliberation.DefaultPool {
		return k.Queue(s)
	}
	return k.heads[s] + ":queue:" + pool
}

// Attempt is the marker of an attempt, in its shard.
func (k Keys) Attempt(id string) string { return k.heads[ShardOf(id)] + ":attempt:" + id }

// Result is the runner's record of an attempt, in its shard.
func (k Keys) Result(id string) string { return k.heads[ShardOf(id)] + ":result:" + id }

// Index is shard s's index of attempts.
func (k Keys) Index(s int) string { return k.heads[s] + ":attempts" }

// Replicas is the hash of the replicas' figures: one key, never in a multi-key call.
func (k Keys) Replicas() string { return k.prefix + ":{runner}:replicas" }

// Layout holds the shard count the queue was written with.
func (k Keys) Layout() string { return k.prefix + ":{runner}:shards" }

// Clusters is the hash of the clusters' states (field = a cluster's name, value = JSON
// {"draining": bool}): one key, never in a multi-key call.
func (k Keys) Clusters() string { return k.prefix + ClustersSuffix }

// ClustersSuffix ends the clusters hash's key, whatever the prefix.
const ClustersSuffix = ":{runner}:clusters"

// ErrLayout is a queue written with another shard count than this build's.
var ErrLayout = errors.New("the runners' queue was written with another shard count")

// CheckLayout records this build's shard count in the layout key when none is, and refuses a
// queue written with another: its attempts would be looked for in the wrong shards, and streams
// beyond the count never read. `make migrate-keys` moves such a queue (Migrate). The runner makes
// the same check when a replica starts.
func CheckLayout(ctx context.Context, rdb redis.UniversalClient, k Keys) error {
	want := strconv.Itoa(Shards)
	if err := rdb.SetNX(ctx, k.Layout(), want, 0).Err(); err != nil {
		return err
	}
	got, err := rdb.Get(ctx, k.Layout()).Result()
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%w: %s holds %s shards, this version uses %s; run make migrate-keys", ErrLayout, k.Layout(), got, want)
	}
	return nil
}

// checkLayout runs CheckLayout once per Queue, on its first enqueue: a queue of another shard
// count is refused before anything is written to it.
func (r *Queue) checkLayout(ctx context.Context) error {
	if r.layoutChecked.Load() {
		return nil
	}
	err := CheckLayout(ctx, r.rdb, r.keys)
	switch {
	case errors.Is(err, ErrLayout): // unavailable, so the deliberation stays accepted and is enqueued once migrated
		return &deliberation.Error{Code: deliberation.CodeUnavailable, Message: "enqueue: " + err.Error(), Cause: err}
	case err != nil:
		return redisError(err, "check the runners' queue layout")
	}
	r.layoutChecked.Store(true)
	return nil
}

// everyShard queues one command per shard in one pipeline: one round trip on a single server; on
// a cluster, one per node, sent in parallel.
func everyShard[C redis.Cmder](ctx context.Context, rdb redis.UniversalClient, cmd func(p redis.Pipeliner, shard int) C) ([]C, error) {
	out := make([]C, Shards)
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for s := range Shards {
			out[s] = cmd(p, s)
		}
		return nil
	})
	return out, err
}
