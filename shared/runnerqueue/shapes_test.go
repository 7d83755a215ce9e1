package runnerqueue_test

import (
	"testing"

	"github.com/rayexecutor/functions/internal/raycontract"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/config"
)

// TestQueueContractSentinel runs the queue's contract on a Sentinel group (a primary, two
// replicas, three sentinels) through the client REDIS_MODE=sentinel builds from its URL.
func TestQueueContractSentinel(t *testing.T) {
	t.Parallel()
	group := testenv.StartSentinel(t)
	raycontract.Run(t, queueHarness(testenv.ShapeClient(t, config.RedisSentinel, group.URL())))
}

// TestQueueContractCluster runs the queue's contract on a 3-primary Redis Cluster through the
// client REDIS_MODE=cluster builds from its URL: every script and transaction must be single-slot.
func TestQueueContractCluster(t *testing.T) {
	t.Parallel()
	cluster := testenv.StartCluster(t, 0)
	raycontract.Run(t, queueHarness(testenv.ShapeClient(t, config.RedisCluster, cluster.URL())))
}
