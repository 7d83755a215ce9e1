package localredis

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/config"
)

var timeouts = config.RedisTimeouts{Dial: 2 * time.Second, Read: 5 * time.Second, Write: 5 * time.Second}

// TestSentinelGroup: the group's URL reaches the primary through the sentinels, a write reaches
// both replicas (WAIT 2), the primary refuses writes it cannot replicate (min-replicas-to-write),
// and Stop leaves no server running.
func TestSentinelGroup(t *testing.T) {
	t.Parallel()
	testenv.Require(t, "redis-server")
	g, err := StartSentinel(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop()
	rdb, err := config.NewRedisClient(config.RedisSentinel, g.URL, timeouts)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	ctx := t.Context()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := rdb.Do(ctx, "WAIT", 2, 5000).Int(); err != nil || n != 2 {
		t.Errorf("WAIT 2 acknowledged by %d replicas (%v), want both", n, err)
	}
	if got, err := rdb.ConfigGet(ctx, "min-replicas-to-write").Result(); err != nil || got["min-replicas-to-write"] != "1" {
		t.Errorf("the primary's min-replicas-to-write is %v (%v), want 1", got, err)
	}
	if got, _ := rdb.ConfigGet(ctx, "appendfsync").Result(); got["appendfsync"] != "everysec" {
		t.Errorf("appendfsync is %v, want everysec", got)
	}
	pid := g.PrimaryPID()
	g.Stop()
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("the primary (pid %d) survived Stop", pid)
	}
}

// TestCluster: three primaries share the slots, each with a replica, and keys of many slots are
// written and read through the cluster URL.
func TestCluster(t *testing.T) {
	t.Parallel()
	testenv.Require(t, "redis-server")
	testenv.Require(t, "redis-cli")
	g, err := StartCluster(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop()
	rdb, err := config.NewRedisClient(config.RedisCluster, g.URL, timeouts)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	cluster := rdb.(*redis.ClusterClient)
	ctx := t.Context()
	for i := range 100 {
		if err := rdb.Set(ctx, fmt.Sprintf("key-%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var primaries, replicas, keys atomic.Int64
	_ = cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		primaries.Add(1)
		keys.Add(c.DBSize(ctx).Val())
		return nil
	})
	_ = cluster.ForEachSlave(ctx, func(context.Context, *redis.Client) error {
		replicas.Add(1)
		return nil
	})
	if primaries.Load() != ClusterPrimaries || replicas.Load() != ClusterPrimaries || keys.Load() != 100 {
		t.Errorf("%d primaries, %d replicas, %d keys; want %d, %d, 100", primaries.Load(), replicas.Load(), keys.Load(), ClusterPrimaries, ClusterPrimaries)
	}
}
