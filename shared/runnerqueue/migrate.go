package runnerqueue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Moved is what Migrate moved.
type Moved struct {
	// Keys is how many runner keys were renamed under the tag (the layout before the tag).
	Keys int
	// Dropped is how many old attempt markers or records were dropped because the new layout
	// already held the same key (the newer one wins).
	Dropped int
	// Entries is how many stream entries moved into their shard's stream, pending ones included.
	Entries int
	// Attempts is how many markers and records moved into their shard.
	Attempts int
}

// movedFromField marks an entry Migrate re-added in a shard with the stream and id it came from,
// so a run cut short and run again adds none twice. The runner ignores it.
const movedFromField = "moved_from"

// Migrate moves the runner's keys of older layouts into the sharded one, in place, in two steps:
//  1. the layout before the hash tag (<prefix>:runner:...) is renamed under the tag
//     (<prefix>:{runner}:...), as it was, on a single primary only (it never ran on a cluster);
//  2. the single-stream layout (<prefix>:{runner}:...), or the shards of another shard count
//     (the layout key says which), move into this build's shards (moveIntoShards).
//
// Run it with the functions and the runners stopped, as redisstore.Migrate. It is idempotent: a
// second run finds nothing, and a run that stopped halfway is finished by running it again.
func Migrate(ctx context.Context, rdb redis.UniversalClient, prefix string) (Moved, error) {
	var m Moved
	if prefix == "" {
		prefix = "rayexec"
	}
	if _, cluster := rdb.(*redis.ClusterClient); !cluster {
		if err := underTheTag(ctx, rdb, prefix, &m); err != nil {
			return m, err
		}
	}
	return m, moveIntoShards(ctx, rdb, NewKeys(prefix), &m)
}

// underTheTag renames <prefix>:runner:... to <prefix>:{runner}:...: RENAME moves a stream whole,
// with its consumer group and pending entries, and a marker or record with its expiry.
func underTheTag(ctx context.Context, rdb redis.UniversalClient, prefix string, m *Moved) error {
	old, now := prefix+":runner:", prefix+":{runner}:"
	keys, err := scanKeys(ctx, rdb, old+"*", "")
	if err != nil {
		return err
	}
	for _, key := range keys {
		target := now + strings.TrimPrefix(key, old)
		renamed, err := rdb.RenameNX(ctx, key, target).Result()
		if errors.Is(err, redis.Nil) || (err != nil && strings.Contains(err.Error(), "no such key")) {
			continue // gone since the scan (it expired)
		}
		if err != nil {
			return fmt.Errorf("migrate %s: %w", key, err)
		}
		if renamed {
			m.Keys++
			continue
		}
		switch target {
		case now + "queue":
			return fmt.Errorf("migrate: both %s and %s hold a queue; drain one before migrating", key, target)
		case now + "attempts": // both indexes list live attempts: keep every id, the later expiry
			if err := rdb.ZUnionStore(ctx, target, &redis.ZStore{Keys: []string{target, key}, Aggregate: "MAX"}).Err(); err != nil {
				return fmt.Errorf("migrate %s: %w", key, err)
			}
			m.Keys++
		default: // a marker, a record or the replicas' figures the new layout already holds
			m.Dropped++
		}
		if err := rdb.Del(ctx, key).Err(); err != nil {
			return fmt.Errorf("migrate %s: %w", key, err)
		}
	}
	return nil
}

// moveIntoShards moves what the heads of older layouts hold into each attempt's shard: the one
// tag {runner} of the single-stream layout, and the shards of the count the layout key holds when
// it is not this build's. Keys in two slots cannot move in one step on a cluster, so each is made
// idempotent instead: a marker or record is copied with its expiry (DUMP, RESTORE; an existing
// target wins) then deleted; an index entry is added with the later expiry, then removed; a
// stream entry is re-added to its shard's stream with movedFromField, then acked and deleted.
// A pending entry (its replica stopped) is re-added as a new one: it runs again, its deliveries
// counted afresh. Finally the layout key is set to Shards.
func moveIntoShards(ctx context.Context, rdb redis.UniversalClient, k Keys, m *Moved) error {
	heads := []string{k.prefix + ":{runner}"}
	count, err := rdb.Get(ctx, k.Layout()).Int()
	switch {
	case errors.Is(err, redis.Nil):
	case err != nil:
		return fmt.Errorf("migrate: read %s: %w", k.Layout(), err)
	case count != Shards:
		for s := range count {
			heads = append(heads, fmt.Sprintf("%s:{runner:s%02d}", k.prefix, s))
		}
	}
	for _, head := range heads {
		if err := moveHead(ctx, rdb, k, head, m); err != nil {
			return err
		}
	}
	return rdb.Set(ctx, k.Layout(), strconv.Itoa(Shards), 0).Err()
}

func moveHead(ctx context.Context, rdb redis.UniversalClient, k Keys, head string, m *Moved) error {
	for _, kind := range []struct {
		part   string
		target func(string) string
	}{{":attempt:", k.Attempt}, {":result:", k.Result}} {
		keys, err := scanKeys(ctx, rdb, head+kind.part+"*", head)
		if err != nil {
			return err
		}
		for _, key := range keys {
			if err := moveKey(ctx, rdb, key, kind.target(strings.TrimPrefix(key, head+kind.part)), m); err != nil {
				return err
			}
		}
	}
	if err := moveIndex(ctx, rdb, k, head+":attempts"); err != nil {
		return err
	}
	return moveStream(ctx, rdb, k, head+":queue", m)
}

// moveKey copies key to target with its bytes and expiry, unless target exists, then deletes key.
func moveKey(ctx context.Context, rdb redis.UniversalClient, key, target string, m *Moved) error {
	if key == target {
		return nil
	}
	pipe := rdb.Pipeline()
	dump, pttl := pipe.Dump(ctx, key), pipe.PTTL(ctx, key)
	if _, err := pipe.Exec(ctx); errors.Is(err, redis.Nil) {
		return nil // expired since the scan
	} else if err != nil {
		return fmt.Errorf("migrate %s: %w", key, err)
	}
	ttl := pttl.Val()
	if ttl < 0 {
		ttl = 0 // no expiry
	}
	switch err := rdb.Restore(ctx, target, ttl, dump.Val()).Err(); {
	case err == nil:
		m.Attempts++
	case strings.HasPrefix(err.Error(), "BUSYKEY"):
		m.Dropped++
	default:
		return fmt.Errorf("migrate %s to %s: %w", key, target, err)
	}
	return rdb.Del(ctx, key).Err()
}

// moveIndex moves every member of an index to its shard's index, keeping the later expiry.
func moveIndex(ctx context.Context, rdb redis.UniversalClient, k Keys, index string) error {
	members, err := rdb.ZRangeWithScores(ctx, index, 0, -1).Result()
	if err != nil {
		return fmt.Errorf("migrate %s: %w", index, err)
	}
	for _, z := range members {
		id, _ := z.Member.(string)
		target := k.Index(ShardOf(id))
		if target == index {
			continue
		}
		if err := rdb.ZAddGT(ctx, target, z).Err(); err != nil {
			return fmt.Errorf("migrate %s: %w", index, err)
		}
		if err := rdb.ZRem(ctx, index, id).Err(); err != nil {
			return fmt.Errorf("migrate %s: %w", index, err)
		}
	}
	return nil
}

// moveStream re-adds every entry of stream whose attempt belongs to another shard to that shard's
// stream, in order, then acks and deletes it from stream; a stream left empty is deleted with its
// group. Entries a run cut short already re-added (movedFromField) are not added twice.
func moveStream(ctx context.Context, rdb redis.UniversalClient, k Keys, stream string, m *Moved) error {
	done := map[string]bool{}
	for s := range Shards {
		entries, err := rdb.XRange(ctx, k.Queue(s), "-", "+").Result()
		if err != nil {
			return fmt.Errorf("migrate: read %s: %w", k.Queue(s), err)
		}
		for _, e := range entries {
			if from, ok := e.Values[movedFromField].(string); ok {
				done[from] = true
			}
		}
	}
	entries, err := rdb.XRange(ctx, stream, "-", "+").Result()
	if err != nil {
		return fmt.Errorf("migrate: read %s: %w", stream, err)
	}
	kept := 0
	for _, e := range entries {
		attempt, _ := e.Values["attempt"].(string)
		target := k.Queue(ShardOf(attempt))
		if target == stream {
			kept++
			continue
		}
		from := stream + "/" + e.ID
		if !done[from] {
			values := make(map[string]any, len(e.Values)+1)
			for f, v := range e.Values {
				values[f] = v
			}
			values[movedFromField] = from
			if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: target, Values: values}).Err(); err != nil {
				return fmt.Errorf("migrate %s to %s: %w", from, target, err)
			}
			m.Entries++
		}
		if err := rdb.XAck(ctx, stream, runnerGroup, e.ID).Err(); err != nil && !strings.HasPrefix(err.Error(), "NOGROUP") {
			return fmt.Errorf("migrate %s: %w", from, err)
		}
		if err := rdb.XDel(ctx, stream, e.ID).Err(); err != nil {
			return fmt.Errorf("migrate %s: %w", from, err)
		}
	}
	if kept == 0 && !isShardQueue(k, stream) {
		return rdb.Del(ctx, stream).Err()
	}
	return nil
}

// isShardQueue is whether stream is one of this build's shard streams (kept, with its group).
func isShardQueue(k Keys, stream string) bool {
	for s := range Shards {
		if k.Queue(s) == stream {
			return true
		}
	}
	return false
}

// scanKeys lists the keys matching pattern with SCAN. On a cluster the keys of one hash tag live
// on one primary: the one that owns tagKey, which is scanned.
func scanKeys(ctx context.Context, rdb redis.UniversalClient, pattern, tagKey string) ([]string, error) {
	var node redis.UniversalClient = rdb
	if c, ok := rdb.(*redis.ClusterClient); ok {
		owner, err := c.MasterForKey(ctx, tagKey)
		if err != nil {
			return nil, fmt.Errorf("migrate: the node of %s: %w", tagKey, err)
		}
		node = owner
	}
	var keys []string
	iter := node.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("migrate: scan %s: %w", pattern, err)
	}
	return keys, nil
}
