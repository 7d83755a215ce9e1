package runnerqueue_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/raycontract"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/config"
)

// TestQueueContractSentinel runs the queue's contract on a Sentinel group (a primary, two
// replicas, three sentinels) through the client REDIS_MODE=sentinel builds from its URL.
func TestQueueContractSentinel(t *testing.T) {
	t.Parallel()
	group := testenv.StartSentinel(t)
	raycontract.Run(t, queueHarness(shapeClient(t, config.RedisSentinel, group.URL())))
}

// shapeClient is the client the functions would build for mode and url (config.NewRedisClient).
func shapeClient(t *testing.T, mode, url string) redis.UniversalClient {
	t.Helper()
	rdb, err := config.NewRedisClient(mode, url, config.RedisTimeouts{Dial: 2 * time.Second, Read: 2 * time.Second, Write: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// TestQueueContractCluster runs the queue's contract on a 3-primary Redis Cluster through the
// client REDIS_MODE=cluster builds from its URL: every script and transaction must be single-slot.
func TestQueueContractCluster(t *testing.T) {
	t.Parallel()
	cluster := testenv.StartCluster(t, 0)
	raycontract.Run(t, queueHarness(shapeClient(t, config.RedisCluster, cluster.URL())))
}
