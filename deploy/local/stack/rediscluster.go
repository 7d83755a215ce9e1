package main

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/testenv"
)

// startCluster starts a Redis Cluster of three primaries with a replica each, created by
// redis-cli, and returns its URL in go-redis's cluster form once every node says cluster_state:ok,
// knows every other node, and every replica is in sync.
func (s *stack) startCluster(ctx context.Context) (string, error) {
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return "", fmt.Errorf("REDIS_MODE=cluster without REDIS_URL creates the cluster with redis-cli: %w", err)
	}
	g, err := s.newRedisGroup("cluster")
	if err != nil {
		return "", err
	}
	var nodes []string
	for i := range 2 * clusterPrimaries {
		name := "node" + strconv.Itoa(i+1)
		addr, err := g.server(name, "", func(int) []string {
			// The bus port is chosen like the client port: port+10000 may be taken or past 65535.
			bus, _ := testenv.LoopbackPort()
			return dataArgs("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
				"--cluster-node-timeout", "5000", "--cluster-port", strconv.Itoa(bus))(0)
		})
		if err != nil {
			return "", err
		}
		nodes = append(nodes, addr)
	}
	args := append(append([]string{"--cluster", "create"}, nodes...), "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("redis-cli --cluster create: %w\n%s", err, out)
	}
	if err := settle(ctx, "the Redis Cluster", func(ctx context.Context) error { return clusterSettled(ctx, nodes) }); err != nil {
		return "", err
	}
	q := url.Values{}
	for _, n := range nodes[1:] {
		q.Add("addr", n)
	}
	return "redis://" + nodes[0] + "?" + q.Encode(), nil
}

// clusterSettled checks that every node serves a whole, healthy cluster of len(nodes) nodes and
// that every replica's link is up.
func clusterSettled(ctx context.Context, nodes []string) error {
	for _, addr := range nodes {
		c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		info, err := c.ClusterInfo(ctx).Result()
		c.Close()
		if err != nil {
			return fmt.Errorf("node %s: %w", addr, err)
		}
		m := infoFields(info)
		if m["cluster_state"] != "ok" || m["cluster_slots_ok"] != "16384" || m["cluster_known_nodes"] != strconv.Itoa(len(nodes)) {
			return fmt.Errorf("node %s: state %s, %s slots ok, %s nodes known", addr, m["cluster_state"], m["cluster_slots_ok"], m["cluster_known_nodes"])
		}
		if err := linkUp(ctx, addr); err != nil {
			return err
		}
	}
	return nil
}

// infoFields reads an INFO-style answer ("name:value" lines).
func infoFields(info string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			m[k] = v
		}
	}
	return m
}
