package localredis

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

// ClusterPrimaries is the fewest primaries redis-cli creates a cluster with; each gets a replica.
const ClusterPrimaries = 3

// StartCluster starts a Redis Cluster of three primaries with a replica each, created by
// redis-cli, and returns it once every node says cluster_state:ok, knows every other node, and
// every replica is in sync.
func StartCluster(ctx context.Context) (*Group, error) {
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return nil, fmt.Errorf("a local Redis Cluster is created with redis-cli: %w", err)
	}
	g, err := newGroup("cluster")
	if err != nil {
		return nil, err
	}
	return g.started(g.startCluster(ctx, cli))
}

func (g *Group) startCluster(ctx context.Context, cli string) error {
	var nodes []string
	for i := range 2 * ClusterPrimaries {
		addr, _, err := g.server("node"+strconv.Itoa(i+1), "", func() []string {
			// The bus port is chosen like the client port: port+10000 may be taken or past 65535.
			bus, _ := testenv.LoopbackPort()
			return dataArgs("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
				"--cluster-node-timeout", "5000", "--cluster-port", strconv.Itoa(bus))
		})
		if err != nil {
			return err
		}
		nodes = append(nodes, addr)
	}
	args := append(append([]string{"--cluster", "create"}, nodes...), "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("redis-cli --cluster create: %w\n%s", err, out)
	}
	if err := settle(ctx, "the Redis Cluster", func(ctx context.Context) error { return clusterSettled(ctx, nodes) }); err != nil {
		return err
	}
	q := url.Values{}
	for _, n := range nodes[1:] {
		q.Add("addr", n)
	}
	g.URL = "redis://" + nodes[0] + "?" + q.Encode()
	return nil
}

// clusterSettled checks that every node serves a whole, healthy cluster of len(nodes) nodes, that
// half of them are replicas and every replica's link is up.
func clusterSettled(ctx context.Context, nodes []string) error {
	replicas := 0
	for _, addr := range nodes {
		c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		info, err := c.ClusterInfo(ctx).Result()
		var slots []redis.ClusterSlot
		if err == nil {
			slots, err = c.ClusterSlots(ctx).Result()
		}
		c.Close()
		if err != nil {
			return fmt.Errorf("node %s: %w", addr, err)
		}
		// Clients learn the shape from CLUSTER SLOTS: every range names its replica there too.
		for _, r := range slots {
			if len(r.Nodes) != 2 {
				return fmt.Errorf("node %s: slots %d-%d served by %d nodes, want a primary and its replica", addr, r.Start, r.End, len(r.Nodes))
			}
		}
		m := infoFields(info)
		if m["cluster_state"] != "ok" || m["cluster_slots_ok"] != "16384" || m["cluster_known_nodes"] != strconv.Itoa(len(nodes)) {
			return fmt.Errorf("node %s: state %s, %s slots ok, %s nodes known", addr, m["cluster_state"], m["cluster_slots_ok"], m["cluster_known_nodes"])
		}
		replica, err := linkUp(ctx, addr)
		if err != nil {
			return err
		}
		if replica {
			replicas++
		}
	}
	if replicas != len(nodes)/2 {
		return fmt.Errorf("%d of %d nodes are replicas, want half", replicas, len(nodes))
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
