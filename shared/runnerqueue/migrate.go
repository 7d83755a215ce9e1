package runnerqueue

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Moved is what Migrate moved.
type Moved struct {
	// Keys is how many runner keys were renamed under the tag.
	Keys int
	// Dropped is how many old attempt markers or records were dropped because the tagged layout
	// already held the same key (the newer one wins).
	Dropped int
}

// Migrate renames the runner's keys of the layout before the hash tag (<prefix>:runner:...) to
// their names under it (<prefix>:{runner}:...), in place: the stream keeps its entries, its
// consumer group and the group's pending entries (RENAME moves the key whole), every marker and
// record keeps its bytes and expiry, and the index is merged. Run it with the functions and the
// runners stopped, as redisstore.Migrate. It is idempotent: a second run finds nothing. A stream
// under both names is an error, not a choice: neither queue's entries may be abandoned. Only a
// single primary can hold the old layout (Redis Cluster refused its scripts), so a cluster client
// is refused. It lists the old keys with SCAN, once.
func Migrate(ctx context.Context, rdb redis.UniversalClient, prefix string) (Moved, error) {
	var m Moved
	if _, ok := rdb.(*redis.ClusterClient); ok {
		return m, errors.New("migrate: the runner keys before the hash tag never ran on Redis Cluster; nothing to migrate")
	}
	if prefix == "" {
		prefix = "rayexec"
	}
	old, now := prefix+":runner:", prefix+":{runner}:"
	var keys []string
	iter := rdb.Scan(ctx, 0, old+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return m, fmt.Errorf("migrate runner keys: scan: %w", err)
	}
	for _, key := range keys {
		target := now + strings.TrimPrefix(key, old)
		renamed, err := rdb.RenameNX(ctx, key, target).Result()
		if errors.Is(err, redis.Nil) || (err != nil && strings.Contains(err.Error(), "no such key")) {
			continue // gone since the scan (it expired)
		}
		if err != nil {
			return m, fmt.Errorf("migrate %s: %w", key, err)
		}
		if renamed {
			m.Keys++
			continue
		}
		switch target {
		case now + "queue":
			return m, fmt.Errorf("migrate: both %s and %s hold a queue; drain one before migrating", key, target)
		case now + "attempts": // both indexes list live attempts: keep every id, the later expiry
			if err := rdb.ZUnionStore(ctx, target, &redis.ZStore{Keys: []string{target, key}, Aggregate: "MAX"}).Err(); err != nil {
				return m, fmt.Errorf("migrate %s: %w", key, err)
			}
			m.Keys++
		default: // a marker, a record or the replicas' figures the new layout already holds
			m.Dropped++
		}
		if err := rdb.Del(ctx, key).Err(); err != nil {
			return m, fmt.Errorf("migrate %s: %w", key, err)
		}
	}
	return m, nil
}
