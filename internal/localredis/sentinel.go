package localredis

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/redis/go-redis/v9"
)

const (
	// SentinelMaster is the group's name (master_name= in its URL).
	SentinelMaster = "rxlocal"
	// SentinelReplicas and Sentinels are the group's shape: a failover needs a quorum of 2.
	SentinelReplicas, Sentinels = 2, 3
)

// StartSentinel starts a Sentinel group (a primary, two replicas, three sentinels with quorum 2)
// and returns it once every sentinel knows the whole group and the replicas are in sync.
func StartSentinel(ctx context.Context) (*Group, error) {
	g, err := newGroup("sentinel")
	if err != nil {
		return nil, err
	}
	return g.started(g.startSentinel(ctx))
}

func (g *Group) startSentinel(ctx context.Context) error {
	// The primary refuses writes it cannot replicate to at least one replica (docs/state.md).
	primary, proc, err := g.server("primary", "", func() []string {
		return dataArgs("--min-replicas-to-write", "1", "--min-replicas-max-lag", "10")
	})
	if err != nil {
		return err
	}
	g.primary = proc
	host, port, _ := net.SplitHostPort(primary)
	var replicas []string
	for i := range SentinelReplicas {
		addr, _, err := g.server("replica"+strconv.Itoa(i+1), "", func() []string { return dataArgs("--replicaof", host, port) })
		if err != nil {
			return err
		}
		replicas = append(replicas, addr)
	}
	var sentinels []string
	for i := range Sentinels {
		name := "sentinel" + strconv.Itoa(i+1)
		// A sentinel rewrites its config file with what it learns, so each has its own.
		conf := filepath.Join(g.dir, name+".conf")
		text := fmt.Sprintf("sentinel monitor %[1]s %[2]s %[3]s 2\nsentinel down-after-milliseconds %[1]s 5000\n"+
			"sentinel failover-timeout %[1]s 30000\nsentinel parallel-syncs %[1]s 1\n", SentinelMaster, host, port)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			return err
		}
		addr, _, err := g.server(name, conf, func() []string { return []string{"--sentinel"} })
		if err != nil {
			return err
		}
		sentinels = append(sentinels, addr)
	}
	if err := settle(ctx, "the Sentinel group", func(ctx context.Context) error { return sentinelSettled(ctx, sentinels, replicas) }); err != nil {
		return err
	}
	q := url.Values{}
	for _, sn := range sentinels[1:] {
		q.Add("addr", sn)
	}
	q.Set("master_name", SentinelMaster)
	g.URL = "redis://" + sentinels[0] + "?" + q.Encode()
	return nil
}

// sentinelSettled checks that every sentinel sees the other sentinels and every replica, and
// that every replica's link to the primary is up.
func sentinelSettled(ctx context.Context, sentinels, replicas []string) error {
	for _, addr := range sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: addr, MaxRetries: -1})
		m, err := c.Master(ctx, SentinelMaster).Result()
		c.Close()
		if err != nil {
			return fmt.Errorf("sentinel %s: %w", addr, err)
		}
		if m["num-other-sentinels"] != strconv.Itoa(len(sentinels)-1) || m["num-slaves"] != strconv.Itoa(len(replicas)) {
			return fmt.Errorf("sentinel %s sees %s other sentinels and %s replicas", addr, m["num-other-sentinels"], m["num-slaves"])
		}
	}
	for _, addr := range replicas {
		if replica, err := linkUp(ctx, addr); err != nil || !replica {
			return fmt.Errorf("replica %s not replicating yet: %v", addr, err)
		}
	}
	return nil
}

// linkUp says whether the node at addr is a replica, and fails for a replica whose link to its
// primary is not up.
func linkUp(ctx context.Context, addr string) (replica bool, err error) {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	info, err := c.InfoMap(ctx, "replication").Result()
	if err != nil {
		return false, fmt.Errorf("redis %s: %w", addr, err)
	}
	r := info["Replication"]
	if r["role"] == "slave" && r["master_link_status"] != "up" {
		return true, fmt.Errorf("replica %s: link to its primary not up", addr)
	}
	return r["role"] == "slave", nil
}
