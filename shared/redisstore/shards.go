package redisstore

import (
	"context"
	"fmt"
	"hash/crc32"

	"github.com/redis/go-redis/v9"
)

// Shards is how many shards the keyspace is split into. A deliberation's keys and the share of
// every global structure (active index, counters, outbox index, stop index) that concerns it live
// in its shard, under the shard's hash tag, so each script touches one Redis Cluster slot. Fixed:
// the shard of an id is derived from it, so changing Shards moves keys (a migration, like
// Migrate).
const Shards = 16

// shardOf is the shard of a deliberation id: CRC-32 (IEEE) of the id, modulo Shards. Stable across
// versions and processes; ids are random or hashes, so shards fill evenly.
func shardOf(id string) int { return int(crc32.ChecksumIEEE([]byte(id)) % Shards) }

// keys lays out the keyspace. Every key starts with the prefix; every key of shard s carries the
// hash tag {sNN}, so Redis Cluster puts the whole shard in one slot:
//
//	<p>:{s07}:d:<id>      entry                  <p>:{s07}:active    active index of the shard
//	<p>:{s07}:r:<id>      request                <p>:{s07}:stats     counters of the shard
//	<p>:{s07}:idem:<id>   idempotency record     <p>:{s07}:outbox    ids with pending events
//	<p>:{s07}:outbox:<id> pending events         <p>:{s07}:stopping  cancelled, Ray side to stop
//	<p>:{s07}:active:c:<caller>  the caller's active index of the shard
//	<p>:check:<id>        status-check marker (one key per command, so no tag)
type keys struct {
	prefix string
	heads  [Shards]string // "<p>:{sNN}" of every shard, built once: keys are built on every call
	// otherStats[s] are the stats keys of every shard but s: what create.lua reads, on one primary,
	// to count the active deliberations of the whole store.
	otherStats [Shards][]string
}

func newKeys(prefix string) keys {
	k := keys{prefix: prefix}
	for s := range Shards {
		k.heads[s] = fmt.Sprintf("%s:{s%02d}", prefix, s)
	}
	for s := range Shards {
		for o := range Shards {
			if o != s {
				k.otherStats[s] = append(k.otherStats[s], k.stats(o))
			}
		}
	}
	return k
}

// shard is the common head of shard s's keys.
func (k *keys) shard(s int) string { return k.heads[s] }

func (k *keys) of(id string) string { return k.shard(shardOf(id)) }

func (k *keys) entry(id string) string   { return k.of(id) + ":d:" + id }
func (k *keys) request(id string) string { return k.of(id) + ":r:" + id }
func (k *keys) idem(id string) string    { return k.of(id) + ":idem:" + id }
func (k *keys) outbox(id string) string  { return k.of(id) + ":outbox:" + id }
func (k *keys) check(id string) string   { return k.prefix + ":check:" + id }

func (k *keys) active(s int) string      { return k.shard(s) + ":active" }
func (k *keys) stats(s int) string       { return k.shard(s) + ":stats" }
func (k *keys) outboxIndex(s int) string { return k.shard(s) + ":outbox" }
func (k *keys) stopping(s int) string    { return k.shard(s) + ":stopping" }

// callerActive is the index of one caller's non-terminal deliberations in shard s: what a caller's
// page of active jobs reads and its active quota counts. Caller names are [A-Za-z0-9._-]
// (callers.Parse); "" is the index no entry joins.
func (k *keys) callerActive(s int, caller string) string { return k.shard(s) + ":active:c:" + caller }

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

// runPipelined runs script once per call in one pipeline. EVALSHA in a pipeline cannot fall back
// to EVAL command by command, so a NOSCRIPT (a server that never saw the script, or restarted)
// loads it (on every primary of a cluster) and runs the pipeline once more: the script is
// read-only.
func runPipelined(ctx context.Context, rdb redis.UniversalClient, script *redis.Script, calls []scriptCall) ([]*redis.Cmd, error) {
	for attempt := 0; ; attempt++ {
		cmds := make([]*redis.Cmd, len(calls))
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, c := range calls {
				cmds[i] = script.EvalSha(ctx, p, c.keys, c.args...)
			}
			return nil
		})
		if err != nil && attempt == 0 && redis.HasErrorPrefix(err, "NOSCRIPT") {
			if err := script.Load(ctx, rdb).Err(); err != nil {
				return nil, err
			}
			continue
		}
		return cmds, err
	}
}

type scriptCall struct {
	keys []string
	args []any
}
