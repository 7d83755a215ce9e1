//go:build faults

package faults

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/config"
)

// The failover scenarios' timings: a primary silent this long is failed over, as deployed.
const (
	sentinelDownAfter  = 5 * time.Second
	clusterNodeTimeout = 5 * time.Second
	// failoverWithin bounds the wait for a new primary after a kill: the timing above plus the
	// election, on a machine the suite keeps busy.
	failoverWithin = 40 * time.Second
)

// store is the Redis the functions keep their state in (FAULTS_REDIS): a standalone server that
// the suite SIGKILLs and restarts, a Sentinel group (a primary, two replicas, three sentinels) or
// a Redis Cluster (three primaries with a replica each) whose primaries it SIGKILLs.
type store struct {
	mode     string
	single   *testenv.Redis
	sentinel *testenv.Sentinel
	cluster  *testenv.Cluster
	// next is the index, in the cluster's primaries, of the next one to kill: each kill takes
	// another shard's primary.
	next int
}

// redisMode is FAULTS_REDIS: standalone (the default), sentinel or cluster.
func redisMode(t *testing.T) string {
	switch m := os.Getenv("FAULTS_REDIS"); m {
	case "", config.RedisStandalone:
		return config.RedisStandalone
	case config.RedisSentinel, config.RedisCluster:
		return m
	default:
		t.Fatalf("FAULTS_REDIS must be standalone, sentinel or cluster, got %q", m)
		return ""
	}
}

func startStore(t *testing.T) *store {
	t.Helper()
	s := &store{mode: redisMode(t)}
	switch s.mode {
	case config.RedisSentinel:
		// AOF every second, as deployed: replication, not the disk, keeps what was acknowledged.
		s.sentinel = testenv.StartSentinelWith(t, testenv.SentinelOptions{DownAfter: sentinelDownAfter,
			Args: []string{"--appendonly", "yes", "--appendfsync", "everysec"}})
	case config.RedisCluster:
		s.cluster = testenv.StartClusterWith(t, 1, testenv.ClusterOptions{NodeTimeout: clusterNodeTimeout,
			Args: []string{"--appendonly", "yes", "--appendfsync", "everysec"}})
	default:
		// Every acknowledged write is on disk before Redis answers, so a SIGKILL loses nothing that
		// a function was told had happened.
		s.single = testenv.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	}
	return s
}

// URL is the store in go-redis's URL form for its mode.
func (s *store) URL() string {
	switch s.mode {
	case config.RedisSentinel:
		return s.sentinel.URL()
	case config.RedisCluster:
		return s.cluster.URL()
	}
	return s.single.URL()
}

// env is what the functions are configured with for this store: with replicas, every write they
// acknowledge waits for one (REDIS_MIN_REPLICAS_ACK=1), as the Sentinel and Cluster manifests say.
func (s *store) env() map[string]string {
	env := map[string]string{"REDIS_MODE": s.mode, "REDIS_URL": s.URL()}
	if s.mode != config.RedisStandalone {
		env["REDIS_MIN_REPLICAS_ACK"] = "1"
	}
	return env
}

// client is the suite's own client of the store, the functions' kind.
func (s *store) client(t *testing.T) redis.UniversalClient {
	t.Helper()
	rdb, err := config.NewRedisClient(s.mode, s.URL(), config.RedisTimeouts{Dial: 2 * time.Second, Read: 5 * time.Second, Write: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return rdb
}

// killPrimary SIGKILLs the primary (Sentinel) or one primary with a replica (Cluster), waits until
// a replica took over, then restarts the dead one, which comes back as a replica. It returns how
// long the failover took, from the kill to a new primary named.
func (s *store) killPrimary(t *testing.T) time.Duration {
	t.Helper()
	switch s.mode {
	case config.RedisSentinel:
		old := s.sentinel.Primary(t)
		s.sentinel.Kill(t, old)
		began := time.Now()
		until(t, failoverWithin, "a sentinel names a new primary", func() bool { return s.sentinel.Primary(t) != old })
		took := time.Since(began)
		s.sentinel.Restart(t, old)
		return took
	case config.RedisCluster:
		primaries := s.cluster.Primaries(t)
		slices.Sort(primaries)
		old := primaries[s.next%len(primaries)]
		s.next++
		s.cluster.Kill(t, old)
		began := time.Now()
		until(t, failoverWithin, "a replica takes over "+old+"'s slots", func() bool {
			now := s.cluster.Primaries(t)
			return len(now) == len(primaries) && !slices.Contains(now, old)
		})
		took := time.Since(began)
		s.cluster.Restart(t, old)
		return took
	}
	t.Fatalf("no primary to kill in %s mode", s.mode)
	return 0
}

// until polls cond every 100 ms for at most within, and fails the test when it never holds.
func until(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %s", what, within)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
