package main

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

// startSentinel starts a Sentinel group (a primary, two replicas, three sentinels with quorum 2)
// and returns its URL in go-redis's failover form once every sentinel knows the whole group and
// the replicas are in sync.
func (s *stack) startSentinel(ctx context.Context) (string, error) {
	g, err := s.newRedisGroup("sentinel")
	if err != nil {
		return "", err
	}
	// The primary refuses writes it cannot replicate to at least one replica (docs/state.md).
	primary, err := g.server("primary", "", dataArgs("--min-replicas-to-write", "1", "--min-replicas-max-lag", "10"))
	if err != nil {
		return "", err
	}
	host, port, _ := net.SplitHostPort(primary)
	var nodes []string
	for i := range sentinelReplicas {
		addr, err := g.server("replica"+strconv.Itoa(i+1), "", dataArgs("--replicaof", host, port))
		if err != nil {
			return "", err
		}
		nodes = append(nodes, addr)
	}
	var sentinels []string
	for i := range sentinelCount {
		name := "sentinel" + strconv.Itoa(i+1)
		// A sentinel rewrites its config file with what it learns, so each has its own.
		conf := filepath.Join(g.dir, name+".conf")
		text := fmt.Sprintf("sentinel monitor %[1]s %[2]s %[3]s 2\nsentinel down-after-milliseconds %[1]s 5000\n"+
			"sentinel failover-timeout %[1]s 30000\nsentinel parallel-syncs %[1]s 1\n", sentinelMaster, host, port)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			return "", err
		}
		addr, err := g.server(name, conf, func(int) []string { return []string{"--sentinel"} })
		if err != nil {
			return "", err
		}
		sentinels = append(sentinels, addr)
	}
	if err := settle(ctx, "the Sentinel group", func(ctx context.Context) error { return sentinelSettled(ctx, sentinels, nodes) }); err != nil {
		return "", err
	}
	q := url.Values{}
	for _, sn := range sentinels[1:] {
		q.Add("addr", sn)
	}
	q.Set("master_name", sentinelMaster)
	return "redis://" + sentinels[0] + "?" + q.Encode(), nil
}

// sentinelSettled checks that every sentinel sees the other sentinels and every replica, and
// that every replica's link to the primary is up.
func sentinelSettled(ctx context.Context, sentinels, replicas []string) error {
	for _, addr := range sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: addr, MaxRetries: -1})
		m, err := c.Master(ctx, sentinelMaster).Result()
		c.Close()
		if err != nil {
			return fmt.Errorf("sentinel %s: %w", addr, err)
		}
		if m["num-other-sentinels"] != strconv.Itoa(len(sentinels)-1) || m["num-slaves"] != strconv.Itoa(len(replicas)) {
			return fmt.Errorf("sentinel %s sees %s other sentinels and %s replicas", addr, m["num-other-sentinels"], m["num-slaves"])
		}
	}
	for _, addr := range replicas {
		if err := linkUp(ctx, addr); err != nil {
			return err
		}
	}
	return nil
}

// linkUp checks that the node at addr is a primary, or a replica whose link to its primary is up.
func linkUp(ctx context.Context, addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	info, err := c.InfoMap(ctx, "replication").Result()
	if err != nil {
		return fmt.Errorf("redis %s: %w", addr, err)
	}
	if r := info["Replication"]; r["role"] == "slave" && r["master_link_status"] != "up" {
		return fmt.Errorf("replica %s: link to its primary not up", addr)
	}
	return nil
}
