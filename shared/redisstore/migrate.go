package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/deliberation"
)

var (
	//go:embed migrate.lua
	migrateLua    string
	migrateScript = redis.NewScript(migrateLua)
	//go:embed migrate_stats.lua
	migrateStatsLua    string
	migrateStatsScript = redis.NewScript(migrateStatsLua)
)

// Migration is what Migrate moved.
type Migration struct {
	// Deliberations is how many ids had keys or index entries in the old layout.
	Deliberations int
	// Active is how many of them were in the old active index.
	Active int
	// Counters says whether the old counters hash was found and moved.
	Counters bool
}

// legacy names the keys of the layout before shards: one unsharded active index, counters hash,
// outbox index and stop index, and the per-deliberation keys without a hash tag.
type legacy struct{ prefix string }

func (l legacy) entry(id string) string   { return l.prefix + ":d:" + id }
func (l legacy) request(id string) string { return l.prefix + ":r:" + id }
func (l legacy) idem(id string) string    { return l.prefix + ":idem:" + id }
func (l legacy) outbox(id string) string  { return l.prefix + ":outbox:" + id }
func (l legacy) active() string           { return l.prefix + ":active" }
func (l legacy) stats() string            { return l.prefix + ":stats" }
func (l legacy) outboxIndex() string      { return l.prefix + ":outbox" }
func (l legacy) stopping() string         { return l.prefix + ":stopping" }

// Migrate moves a keyspace written by the layout before shards into the sharded one, in place:
// every deliberation's entry, request, idempotency record and outbox keep their bytes and their
// expiry, its index entries move into its shard's indexes, and the old counters into the shards'
// (their sums unchanged). One deliberation moves atomically; the whole is idempotent, so a run
// that stopped halfway is finished by running it again. Run it with the functions stopped: the
// old and the new code must not write at the same time. Only a single primary (standalone or
// Sentinel) can hold the old layout (Redis Cluster refused its scripts), so a cluster client is
// refused. It lists the old keys with SCAN, once.
func Migrate(ctx context.Context, rdb redis.UniversalClient, prefix string) (Migration, error) {
	var m Migration
	if _, ok := rdb.(*redis.ClusterClient); ok {
		return m, errors.New("migrate: the layout before shards never ran on Redis Cluster; nothing to migrate")
	}
	if prefix == "" {
		prefix = "rayexec"
	}
	old, now := legacy{prefix}, newKeys(prefix)
	ids, err := legacyIDs(ctx, rdb, old)
	if err != nil {
		return m, err
	}
	var perShard [Shards]int
	for _, id := range ids {
		shard := shardOf(id)
		active, err := migrateScript.Run(ctx, rdb, []string{
			old.entry(id), old.request(id), old.idem(id), old.outbox(id),
			now.entry(id), now.request(id), now.idem(id), now.outbox(id),
			old.active(), now.active(shard), old.outboxIndex(), now.outboxIndex(shard), old.stopping(), now.stopping(shard),
		}, id).Int()
		if err != nil {
			return m, fmt.Errorf("migrate %s: %w", id, err)
		}
		perShard[shard] += active
		m.Active += active
	}
	m.Deliberations = len(ids)
	statsKeys := []string{old.stats()}
	args := make([]any, Shards)
	for shard := range Shards {
		statsKeys = append(statsKeys, now.stats(shard))
		args[shard] = perShard[shard]
	}
	moved, err := migrateStatsScript.Run(ctx, rdb, statsKeys, args...).Int()
	if err != nil {
		return m, fmt.Errorf("migrate counters: %w", err)
	}
	m.Counters = moved == 1
	return m, nil
}

// legacyIDs lists every id the old layout holds anything of: keys found by SCAN (the new keys
// carry a '{' after the prefix, so they never match) and the members of the old indexes.
func legacyIDs(ctx context.Context, rdb redis.UniversalClient, old legacy) ([]string, error) {
	seen := map[string]bool{}
	var ids []string
	add := func(id string) {
		if deliberation.ValidID(id) && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	iter := rdb.Scan(ctx, 0, old.prefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		rest := strings.TrimPrefix(iter.Val(), old.prefix+":")
		for _, kind := range []string{"d:", "r:", "idem:", "outbox:"} {
			if id, ok := strings.CutPrefix(rest, kind); ok {
				add(id)
			}
		}
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("migrate: scan: %w", err)
	}
	for _, index := range []string{old.active(), old.outboxIndex(), old.stopping()} {
		members, err := rdb.ZRange(ctx, index, 0, -1).Result()
		if err != nil {
			return nil, fmt.Errorf("migrate: read %s: %w", index, err)
		}
		for _, id := range members {
			add(id)
		}
	}
	return ids, nil
}

// LegacyKeys reports whether the keyspace still holds the layout before shards (its counters or
// its active index): a function started on it would miss what it holds until Migrate runs.
func LegacyKeys(ctx context.Context, rdb redis.UniversalClient, prefix string) (bool, error) {
	if prefix == "" {
		prefix = "rayexec"
	}
	if _, ok := rdb.(*redis.ClusterClient); ok {
		return false, nil
	}
	old := legacy{prefix}
	n, err := rdb.Exists(ctx, old.stats(), old.active()).Result()
	if err != nil {
		return false, unavailable(err)
	}
	return n > 0, nil
}
