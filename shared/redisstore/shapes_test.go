package redisstore

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/slots"
	"github.com/rayexecutor/functions/internal/storetest"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/config"
)

// TestContractSentinel runs the store's contract on a Sentinel group (a primary, two replicas,
// three sentinels), through the client REDIS_MODE=sentinel builds from the group's URL. The group
// starts once for every subtest.
func TestContractSentinel(t *testing.T) {
	t.Parallel()
	group := testenv.StartSentinel(t)
	rdb := testenv.ShapeClient(t, config.RedisSentinel, group.URL())
	// One primary: the limit is exact however the creations race (TestAdmissionAcrossShards).
	// Every write waits for both replicas, on the primary's connection.
	runShapeContract(t, rdb, true, Durability{Replicas: 2, Timeout: time.Second})
}

// TestContractCluster runs the store's contract on a real 3-primary Redis Cluster, through the
// client REDIS_MODE=cluster builds: a script given keys of two slots fails there with CROSSSLOT,
// one that reads a key it was not given fails when that key lives on another slot. The slots
// the slot test computes are checked against the cluster's own CLUSTER KEYSLOT first.
func TestContractCluster(t *testing.T) {
	t.Parallel()
	cluster := testenv.StartCluster(t, 0)
	rdb := testenv.ShapeClient(t, config.RedisCluster, cluster.URL())
	s := New(rdb, Options{Prefix: "keyslot"})
	for _, key := range []string{"foo", "123456789", s.keys.entry("delib-aaaaaaaaaaaaaaaaaaaaaaaaaa"), s.keys.stats(7), s.keys.check("x")} {
		want, err := rdb.ClusterKeySlot(t.Context(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := slots.Of(key); int64(got) != want {
			t.Fatalf("slots.Of(%q) = %d, CLUSTER KEYSLOT says %d", key, got, want)
		}
	}
	// Options.Cluster left off: New sees the cluster client, so no script leaves its slot and the
	// limit is the soft one. The writes go through WAIT on the slot's primary (the node client
	// MasterForKey gives, which answers MOVED to a script of a slot it does not serve); with no
	// replica to wait for, WAIT's timeout is short.
	runShapeContract(t, rdb, false, Durability{Replicas: 1, Timeout: time.Millisecond})
}

// runShapeContract runs the store's contract, its expiry contract and the admission race on rdb;
// exact says whether the admission limit must hold exactly.
// Every store waits for replication as durable asks.
func runShapeContract(t *testing.T, rdb redis.UniversalClient, exact bool, durable Durability) {
	var n atomic.Int32
	t.Run("contract", func(t *testing.T) {
		t.Parallel()
		storetest.Run(t, func(t *testing.T, events bool) storetest.Subject {
			s := New(rdb, Options{Prefix: fmt.Sprintf("contract%d", n.Add(1)), Outbox: events, Durability: durable})
			return storetest.Subject{Store: s, Outbox: s}
		})
	})
	t.Run("expiry", func(t *testing.T) {
		t.Parallel()
		storetest.RunExpiry(t, func(t *testing.T, retention time.Duration) storetest.Subject {
			s := New(rdb, Options{Prefix: fmt.Sprintf("expiry%d", n.Add(1)), Retention: retention, Durability: durable})
			return storetest.Subject{Store: s, Outbox: s}
		})
	})
	t.Run("admission", func(t *testing.T) {
		t.Parallel()
		checkAdmission(t, func(prefix string) *Store { return New(rdb, Options{Prefix: prefix, Durability: durable}) }, exact)
	})
	// Named callers' scripts on the shape: a caller's bound, page and terminal transition, its
	// submit bucket, the id secret (a cluster refuses a script whose keys span slots).
	t.Run("callers", func(t *testing.T) {
		t.Parallel()
		s := New(rdb, Options{Prefix: fmt.Sprintf("callers%d", n.Add(1))})
		callerScenario(t, s)
		if _, err := s.IDSecret(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}
