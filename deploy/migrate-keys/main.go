// Command migrate-keys moves a Redis keyspace written by the store's layout before shards (one
// active index, one counters hash, keys without a hash tag) into the sharded layout, in place
// (redisstore.Migrate), and the runner queue's keys of older layouts (before their hash tag,
// <prefix>:runner:...; the single stream under {runner}; shards of another count) into its shards
// (runnerqueue.Migrate), pending entries included. It reads REDIS_MODE, REDIS_URL and
// REDIS_KEY_PREFIX as the functions do.
// Stop the functions first (scale them to zero), run it, then start the new version; a run that
// stopped halfway is finished by running it again. Stop the Serve runners too: their queue moves.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/redisstore"
	"github.com/rayexecutor/functions/shared/runnerqueue"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "migrate-keys:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.Load(os.Getenv, config.Options{})
	if err != nil {
		return err
	}
	rdb, err := config.NewRedisClient(cfg.RedisMode, cfg.RedisURL, config.RedisTimeouts{Dial: 5 * time.Second, Read: 30 * time.Second, Write: 30 * time.Second})
	if err != nil {
		return err
	}
	defer rdb.Close()
	if _, cluster := rdb.(*redis.ClusterClient); !cluster { // the store's layout before shards never ran on a cluster
		m, err := redisstore.Migrate(context.Background(), rdb, cfg.RedisKeyPrefix)
		if err != nil {
			return err
		}
		fmt.Printf("migrate-keys: prefix %s: %d deliberations moved into %d shards (%d active), counters moved: %v\n",
			cfg.RedisKeyPrefix, m.Deliberations, redisstore.Shards, m.Active, m.Counters)
	}
	r, err := runnerqueue.Migrate(context.Background(), rdb, cfg.RedisKeyPrefix)
	if err != nil {
		return err
	}
	fmt.Printf("migrate-keys: prefix %s: %d runner keys moved under {runner}; %d queue entries and %d markers or records moved into %d shards; %d old ones dropped for newer\n",
		cfg.RedisKeyPrefix, r.Keys, r.Entries, r.Attempts, runnerqueue.Shards, r.Dropped)
	return nil
}
