package testenv

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterPrimaries is how many primaries a test cluster has: the fewest redis-cli creates.
const clusterPrimaries = 3

// clusterNodeTimeout is cluster-node-timeout: how long a silent primary is waited for before its
// replica takes over.
const clusterNodeTimeout = 2 * time.Second

// Cluster is a Redis Cluster owned by one test: three primaries sharing the 16384 slots, each with
// the replicas asked for.
type Cluster struct {
	// NodeTimeout is the nodes' cluster-node-timeout.
	NodeTimeout time.Duration
	nodes       []*Redis
}

// StartCluster starts 3 primaries with replicas replicas each (0 or 1 for a failover test),
// creates the cluster with redis-cli and returns once every node says cluster_state:ok and knows
// every other node. Everything is killed when the test ends.
func StartCluster(t testing.TB, replicas int) *Cluster {
	t.Helper()
	return StartClusterWith(t, replicas, ClusterOptions{})
}

// ClusterOptions change a cluster from StartCluster's.
type ClusterOptions struct {
	// NodeTimeout is cluster-node-timeout (default 2 s).
	NodeTimeout time.Duration
	// Args are more arguments for every node (such as "--appendonly", "yes").
	Args []string
}

// StartClusterWith is StartCluster with options.
func StartClusterWith(t testing.TB, replicas int, opt ClusterOptions) *Cluster {
	t.Helper()
	cli := Require(t, "redis-cli")
	c := &Cluster{NodeTimeout: cmp.Or(opt.NodeTimeout, clusterNodeTimeout)}
	for range clusterPrimaries * (1 + replicas) {
		c.nodes = append(c.nodes, startRedis(t, "", func() []string {
			// The bus port is chosen like the client port: port+10000 may be past 65535 or taken.
			dir := t.TempDir()
			args := []string{"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
				"--cluster-node-timeout", strconv.FormatInt(c.NodeTimeout.Milliseconds(), 10),
				"--cluster-port", strconv.Itoa(FreePort(t))}
			return append(args, opt.Args...)
		}))
	}
	args := append(append([]string{"--cluster", "create"}, c.Nodes()...),
		"--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	if err := c.waitOK(30 * time.Second); err != nil {
		t.Fatalf("cluster: %v", err)
	}
	return c
}

// URL is the cluster in go-redis's form (redis.ParseClusterURL): one node as the host, the
// others as addr.
func (c *Cluster) URL() string {
	q := url.Values{}
	for _, n := range c.nodes[1:] {
		q.Add("addr", n.Addr)
	}
	return "redis://" + c.nodes[0].Addr + "?" + q.Encode()
}

// Nodes are every node's address, primaries and replicas.
func (c *Cluster) Nodes() []string { return addrs(c.nodes) }

// Primaries are the addresses of the nodes serving slots now, as a live node sees the cluster.
func (c *Cluster) Primaries(t testing.TB) []string {
	t.Helper()
	ctx := context.Background()
	for _, n := range c.nodes {
		if n.cmd == nil { // killed
			continue
		}
		rdb := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1, DialTimeout: time.Second})
		slots, err := rdb.ClusterSlots(ctx).Result()
		rdb.Close()
		if err != nil {
			continue
		}
		var out []string
		for _, s := range slots {
			if len(s.Nodes) > 0 && !slices.Contains(out, s.Nodes[0].Addr) {
				out = append(out, s.Nodes[0].Addr)
			}
		}
		return out
	}
	t.Fatal("no cluster node answers CLUSTER SLOTS")
	return nil
}

// Primary is a primary's address (the first of Primaries).
func (c *Cluster) Primary(t testing.TB) string { return c.Primaries(t)[0] }

// Kill SIGKILLs the node at addr, as a crash would.
func (c *Cluster) Kill(t testing.TB, addr string) { c.node(t, addr).Kill() }

// Restart starts the node at addr again after Kill, with its port and nodes.conf: it rejoins
// the cluster (an old primary whose replica took over comes back as a replica).
func (c *Cluster) Restart(t testing.TB, addr string) { c.node(t, addr).Restart(t) }

func (c *Cluster) node(t testing.TB, addr string) *Redis {
	t.Helper()
	for _, r := range c.nodes {
		if r.Addr == addr {
			return r
		}
	}
	t.Fatalf("no cluster node at %s", addr)
	return nil
}

func (c *Cluster) waitOK(within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var err error
	for {
		if err = c.ok(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ok within %s: %w", within, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ok checks that every node answers cluster_state:ok with every slot assigned and knows all the
// nodes (the gossip has converged, so a client finds any slot from any node), and that every
// replica is in sync.
func (c *Cluster) ok(ctx context.Context) error {
	for _, n := range c.nodes {
		rdb := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1})
		info, err := rdb.ClusterInfo(ctx).Result()
		var repl string
		if err == nil {
			repl, err = rdb.Info(ctx, "replication").Result()
		}
		rdb.Close()
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Addr, err)
		}
		if infoField(repl, "role") == "slave" && infoField(repl, "master_link_status") != "up" {
			return fmt.Errorf("replica %s: link to its primary not up", n.Addr)
		}
		if infoField(info, "cluster_state") != "ok" || infoField(info, "cluster_slots_ok") != "16384" ||
			infoField(info, "cluster_known_nodes") != strconv.Itoa(len(c.nodes)) {
			return fmt.Errorf("node %s: state %s, %s slots ok, %s nodes known", n.Addr, infoField(info, "cluster_state"),
				infoField(info, "cluster_slots_ok"), infoField(info, "cluster_known_nodes"))
		}
	}
	return nil
}

// infoField is one field of an INFO or CLUSTER INFO answer ("" when absent).
func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}
