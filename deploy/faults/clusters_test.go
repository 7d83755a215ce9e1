//go:build faults

package faults

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/runnerqueue"
)

// clusterCount is FAULTS_CLUSTERS: 1 (the default) or 2, two local heads whose runners share the
// queue (serve dispatch, standalone Redis), one of which is lost whole and brought back.
func clusterCount(t *testing.T) int {
	switch c := os.Getenv("FAULTS_CLUSTERS"); c {
	case "", "1":
		return 1
	case "2":
		if dispatch(t) != "serve" || redisMode(t) != config.RedisStandalone {
			t.Fatal("FAULTS_CLUSTERS=2 runs with FAULTS_DISPATCH=serve on standalone Redis")
		}
		return 2
	default:
		t.Fatalf("FAULTS_CLUSTERS must be 1 or 2, got %q", c)
		return 0
	}
}

// clustersSetting is the functions' RAY_CLUSTERS for the suite's heads.
func clustersSetting(heads []*rayHead) string {
	list := make([]config.RayCluster, len(heads))
	for i, h := range heads {
		list[i] = config.RayCluster{Name: h.name, Address: h.Address}
	}
	raw, _ := json.Marshal(list)
	return string(raw)
}

// runnerGroup is the runners' consumer group (shared/rayjob/contract/runner_queue.json).
const runnerGroup = "runners"

// clusterDown is the least time a lost cluster stays away before it is started again: past
// claim_idle_s, so the other cluster's runner has taken its attempts over before it is back.
const clusterDown = 2 * runnerClaimIdle * time.Second

// clustersSchedule is FAULTS_CLUSTERS=2's: each cluster in turn is lost whole (every process of its
// head SIGKILLed at once, its runner's attempts in flight) and later started again with its runner,
// among the serve scenario's Redis and NATS faults. The other cluster's runner must take the lost
// attempts over (XAUTOCLAIM after claim_idle_s), and the one that comes back must not run them
// again. A restart blocks the schedule for a head's start and a deploy (20 s to 2 min on a loaded
// machine), so the NATS cut falls while ray-2 is away and ray-1 is lost only once ray-2 is back.
var clustersSchedule = []step{
	{0.08, "SIGKILL every process of ray-2", killCluster(1)},
	{0.12, "cut NATS", func(t *testing.T, s *stack) { s.nats.Stop() }},
	{0.18, "NATS back", func(t *testing.T, s *stack) { s.nats.Restart(t) }},
	{0.20, "start ray-2 again, deploy its runner", restartCluster(1)},
	{0.30, "SIGKILL redis-server, restart it", killRedis},
	{0.70, "SIGKILL every process of ray-1", killCluster(0)},
	{0.80, "start ray-1 again, deploy its runner", restartCluster(0)},
	{0.90, "SIGKILL redis-server, restart it", killRedis},
}

// killCluster loses the i-th cluster whole while the runners hold attempts.
func killCluster(i int) func(t *testing.T, s *stack) {
	return func(t *testing.T, s *stack) {
		rdb := s.redis.client(t)
		defer rdb.Close()
		held, _ := pendingByConsumer(t, rdb)
		s.rays[i].Kill(t)
		s.rays[i].killedAt = time.Now()
		t.Logf("%s lost; attempts held per consumer just before: %v", s.rays[i].name, held)
	}
}

// restartCluster starts the i-th head again, at least clusterDown after its loss, and deploys its
// runner: a new consumer, which finds the lost attempts already taken over.
func restartCluster(i int) func(t *testing.T, s *stack) {
	return func(t *testing.T, s *stack) {
		time.Sleep(time.Until(s.rays[i].killedAt.Add(clusterDown)))
		s.rays[i].Start(t)
		deployRunner(t, s, s.rays[i])
	}
}

// pendingByConsumer counts the queue's pending entries per consumer, over the shards.
func pendingByConsumer(t *testing.T, rdb redis.UniversalClient) (map[string]int64, error) {
	keys := runnerqueue.NewKeys(keyPrefix)
	out := map[string]int64{}
	for shard := range runnerqueue.Shards {
		p, err := rdb.XPending(t.Context(), keys.Queue(shard), runnerGroup).Result()
		if err != nil {
			return out, err
		}
		for consumer, n := range p.Consumers {
			out[consumer] += n
		}
	}
	return out, nil
}
