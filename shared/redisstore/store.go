// Package redisstore keeps the deliberation registry, the active index, the statistics and the
// outbox of lifecycle events in Redis (the command set of Redis 7.0). Every transition is one
// atomic step: creation is a Lua script, updates are optimistic compare-and-set scripts that
// apply the entry, its counter delta and its events together, so `total = active + completed +
// failed` holds at every instant a reader can observe and an event exists exactly when its
// transition does. The keyspace is split into Shards shards, each under one hash tag (shards.go):
// every script touches one shard, so one Redis Cluster slot (on one primary, the creation also
// reads the other shards' counts, for an exact admission limit); reads of the whole visit every
// shard in one pipeline.
package redisstore

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

var (
	_ app.StateStore = (*Store)(nil)
	_ app.Outbox     = (*Store)(nil)
)

// Options name the keyspace and how long finished work is kept.
type Options struct {
	// Prefix namespaces every key (default "rayexec").
	Prefix string
	// Retention is how long a terminal entry, its request and its idempotency record live after the
	// terminal transition, and an active one after its deadline (default 168h); also the lifetime
	// of an outbox nobody empties.
	Retention time.Duration
	// Outbox records the lifecycle events of every transition, for an event publisher to deliver.
	// Off (the default) when events are off, so that nothing accumulates.
	Outbox bool
	// Cluster says the server is Redis Cluster (REDIS_MODE=cluster), where every script must touch
	// one slot, so the admission limit is soft (create.go). Off: one primary (standalone,
	// Sentinel), where create.lua reads every shard's count itself and the limit is exact. New
	// turns it on for a *redis.ClusterClient whatever it says.
	Cluster bool
	// Durability waits for replication after every write acknowledged to a caller (durable.go).
	Durability Durability
}

// Store is the Redis adapter of app.StateStore.
type Store struct {
	rdb       redis.UniversalClient
	keys      keys
	retention time.Duration
	outbox    bool
	cluster   bool
	secret    secretCache
	// durability is Options.Durability; waiter is the client (on one primary) whose read timeout
	// lets WAIT block for its timeout.
	durability Durability
	waiter     redis.Cmdable
}

// New returns a store over rdb.
func New(rdb redis.UniversalClient, opt Options) *Store {
	if opt.Prefix == "" {
		opt.Prefix = "rayexec"
	}
	if opt.Retention <= 0 {
		opt.Retention = 168 * time.Hour
	}
	if _, ok := rdb.(*redis.ClusterClient); ok {
		opt.Cluster = true
	}
	s := &Store{rdb: rdb, keys: newKeys(opt.Prefix), retention: opt.Retention, outbox: opt.Outbox, cluster: opt.Cluster,
		durability: opt.Durability, waiter: rdb}
	if c, ok := rdb.(*redis.Client); ok && opt.Durability.Replicas > 0 {
		s.waiter = c.WithTimeout(waitReadTimeout(c, opt.Durability))
	}
	return s
}

// ClaimCheck takes the status-check marker of id for period.
func (s *Store) ClaimCheck(ctx context.Context, id string, period time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.keys.check(id), 1, max(period, time.Millisecond)).Result()
	if err != nil {
		return false, unavailable(err)
	}
	return ok, nil
}

func unavailable(err error) error {
	return deliberation.Unavailable(err, "state store unavailable")
}
