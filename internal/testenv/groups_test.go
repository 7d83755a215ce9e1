package testenv

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestSentinelGroupFailsOver: the group's URL is go-redis's failover form, a write through it
// lands on the primary and reaches the replicas, and after the primary is killed the sentinels
// name another node, which takes writes through the same URL.
func TestSentinelGroupFailsOver(t *testing.T) {
	t.Parallel()
	start := time.Now()
	s := StartSentinel(t)
	t.Logf("sentinel group (1 primary, 2 replicas, 3 sentinels) settled in %s", time.Since(start).Round(time.Millisecond))
	opt, err := redis.ParseFailoverURL(s.URL())
	if err != nil {
		t.Fatalf("URL %s: %v", s.URL(), err)
	}
	if opt.MasterName != SentinelMaster || len(opt.SentinelAddrs) != 3 {
		t.Fatalf("URL %s parses to master %q, sentinels %v", s.URL(), opt.MasterName, opt.SentinelAddrs)
	}
	rdb := redis.NewFailoverClient(opt)
	defer rdb.Close()
	ctx := context.Background()
	primary := s.Primary(t)
	if primary != s.Nodes()[0] {
		t.Fatalf("primary %s, want the first node %s", primary, s.Nodes()[0])
	}
	if err := rdb.Set(ctx, "k", "v1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := rdb.Wait(ctx, 2, 5*time.Second).Result(); err != nil || n != 2 {
		t.Fatalf("WAIT 2: %d replicas, %v", n, err)
	}

	s.Kill(t, primary)
	killed := time.Now()
	deadline := killed.Add(20 * time.Second)
	for {
		if p, err := s.primary(ctx); err == nil && p != primary {
			t.Logf("new primary %s named %s after the kill", p, time.Since(killed).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no failover within 20 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var got string
	for got, err = "", errors.New("not tried"); err != nil && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		got, err = rdb.Get(ctx, "k").Result()
	}
	if err != nil || got != "v1" {
		t.Fatalf("after failover: %q, %v; want the replicated v1", got, err)
	}
	// The sentinels turn a restarted old primary into a replica, but only some 15 s later (they
	// wait for it to settle): not waited for here.
	s.Restart(t, primary)
}

// waitRole waits until the node at addr reports role (INFO replication: master or slave) with its
// link to a primary up when it is a replica.
func waitRole(t *testing.T, addr, role string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		info, err := c.Info(context.Background(), "replication").Result()
		c.Close()
		if err == nil && infoField(info, "role") == role && (role != "slave" || infoField(info, "master_link_status") == "up") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not a %s within %s: %v %s", addr, role, within, err, infoField(info, "role"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClusterSpreadsSlots: the cluster's URL is go-redis's cluster form, keys in different slots
// land on different primaries, and a script over two slots is refused with CROSSSLOT (what the
// key-layout work must avoid), while keys sharing a hash tag run together.
func TestClusterSpreadsSlots(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := StartCluster(t, 0)
	t.Logf("cluster of 3 primaries ok in %s", time.Since(start).Round(time.Millisecond))
	opt, err := redis.ParseClusterURL(c.URL())
	if err != nil || len(opt.Addrs) != 3 {
		t.Fatalf("URL %s: %v, %v", c.URL(), opt, err)
	}
	rdb := redis.NewClusterClient(opt)
	defer rdb.Close()
	ctx := context.Background()
	if p := c.Primaries(t); len(p) != 3 {
		t.Fatalf("primaries %v, want 3", p)
	}
	owners := map[string]bool{}
	for i := range 30 {
		key := fmt.Sprintf("key%d", i)
		if err := rdb.Set(ctx, key, i, 0).Err(); err != nil {
			t.Fatal(err)
		}
		err := rdb.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			if m.Exists(ctx, key).Val() == 1 {
				owners[m.Options().Addr] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(owners) != 3 {
		t.Errorf("30 keys landed on %d primaries, want all 3", len(owners))
	}
	script := redis.NewScript(`return redis.call('MSET', KEYS[1], 1, KEYS[2], 2)`)
	if err := script.Run(ctx, rdb, []string{"a", "b"}).Err(); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Errorf("a script over two slots: %v, want CROSSSLOT", err)
	}
	if err := script.Run(ctx, rdb, []string{"{t}a", "{t}b"}).Err(); err != nil {
		t.Errorf("a script within one hash tag: %v", err)
	}
}

// TestClusterWithReplicasFailsOver: with a replica per primary, killing a primary makes its
// replica serve its slots.
func TestClusterWithReplicasFailsOver(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := StartCluster(t, 1)
	t.Logf("cluster of 3 primaries and 3 replicas ok in %s", time.Since(start).Round(time.Millisecond))
	if n := len(c.Nodes()); n != 6 {
		t.Fatalf("%d nodes, want 6", n)
	}
	before := c.Primaries(t)
	victim := before[0]
	c.Kill(t, victim)
	killed := time.Now()
	for {
		if now := c.Primaries(t); len(now) == 3 && !slices.Contains(now, victim) {
			t.Logf("a replica took the killed primary's slots after %s", time.Since(killed).Round(time.Millisecond))
			break
		}
		if time.Since(killed) > 30*time.Second {
			t.Fatalf("primaries %v still without a replacement for %s", c.Primaries(t), victim)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.Restart(t, victim)
	restarted := time.Now()
	waitRole(t, victim, "slave", 30*time.Second)
	t.Logf("the old primary rejoined as a replica %s after its restart", time.Since(restarted).Round(time.Millisecond))
}
