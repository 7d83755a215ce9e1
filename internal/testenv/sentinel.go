package testenv

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMaster is the name the test Sentinel group monitors.
const SentinelMaster = "testmaster"

// Sentinel is a Sentinel group owned by one test: a primary, two replicas and three sentinels,
// quorum 2, all redis-server processes (sentinels run with --sentinel).
type Sentinel struct {
	// DownAfter is the sentinels' down-after-milliseconds: how long a silent primary is waited
	// for before a failover starts.
	DownAfter time.Duration
	nodes     []*Redis // the data nodes; nodes[0] was the primary at start
	sentinels []*Redis
}

// sentinelDownAfter keeps a test's failover within a few seconds.
const sentinelDownAfter = time.Second

// SentinelOptions change a group from StartSentinel's.
type SentinelOptions struct {
	// DownAfter is the sentinels' down-after-milliseconds (default 1 s).
	DownAfter time.Duration
	// Args are more arguments for every data node (such as "--appendonly", "yes").
	Args []string
}

// StartSentinel starts the group and returns once every sentinel knows the primary, both replicas
// and the two other sentinels, and both replicas are in sync. Everything is killed when the test
// ends.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	return StartSentinelWith(t, SentinelOptions{})
}

// StartSentinelWith is StartSentinel with options.
func StartSentinelWith(t testing.TB, opt SentinelOptions) *Sentinel {
	t.Helper()
	s := &Sentinel{DownAfter: cmp.Or(opt.DownAfter, sentinelDownAfter)}
	primary := StartRedis(t, opt.Args...)
	s.nodes = append(s.nodes, primary)
	host, port, _ := net.SplitHostPort(primary.Addr)
	for range 2 {
		s.nodes = append(s.nodes, StartRedis(t, append([]string{"--replicaof", host, port}, opt.Args...)...))
	}
	for range 3 {
		// A sentinel rewrites its config file (what it learns), so each gets its own.
		conf := filepath.Join(t.TempDir(), "sentinel.conf")
		text := fmt.Sprintf("sentinel monitor %s %s %s 2\nsentinel down-after-milliseconds %s %d\n"+
			"sentinel failover-timeout %s 10000\nsentinel parallel-syncs %s 2\n",
			SentinelMaster, host, port, SentinelMaster, s.DownAfter.Milliseconds(), SentinelMaster, SentinelMaster)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		s.sentinels = append(s.sentinels, startRedis(t, conf, func() []string { return []string{"--sentinel"} }))
	}
	if err := s.waitSettled(30 * time.Second); err != nil {
		t.Fatalf("sentinel group: %v", err)
	}
	return s
}

// URL is the group in go-redis's failover form (redis.ParseFailoverURL): the first sentinel as
// the host, the others as addr, and master_name.
func (s *Sentinel) URL() string {
	q := url.Values{}
	for _, sn := range s.sentinels[1:] {
		q.Add("addr", sn.Addr)
	}
	q.Set("master_name", SentinelMaster)
	return "redis://" + s.sentinels[0].Addr + "?" + q.Encode()
}

// Sentinels are the sentinels' addresses.
func (s *Sentinel) Sentinels() []string { return addrs(s.sentinels) }

// Nodes are the data nodes' addresses, primary and replicas alike.
func (s *Sentinel) Nodes() []string { return addrs(s.nodes) }

// Primary is the primary's address as the first sentinel that answers names it.
func (s *Sentinel) Primary(t testing.TB) string {
	t.Helper()
	addr, err := s.primary(context.Background())
	if err != nil {
		t.Fatalf("sentinel primary: %v", err)
	}
	return addr
}

// Kill SIGKILLs the data node or sentinel at addr, as a crash would.
func (s *Sentinel) Kill(t testing.TB, addr string) { s.node(t, addr).Kill() }

// Pause stops the data node or sentinel at addr (SIGSTOP) until Resume; resumed when the test ends.
func (s *Sentinel) Pause(t testing.TB, addr string) {
	n := s.node(t, addr)
	n.Pause()
	t.Cleanup(n.Resume)
}

// Resume continues the node at addr after Pause.
func (s *Sentinel) Resume(t testing.TB, addr string) { s.node(t, addr).Resume() }

// Restart starts the data node or sentinel at addr again, same port and directory, after Kill;
// the sentinels turn a restarted old primary into a replica, some 15 s later (measured on Redis
// 7.0: they wait for it to settle).
func (s *Sentinel) Restart(t testing.TB, addr string) { s.node(t, addr).Restart(t) }

func (s *Sentinel) node(t testing.TB, addr string) *Redis {
	t.Helper()
	for _, r := range append(s.nodes[:len(s.nodes):len(s.nodes)], s.sentinels...) {
		if r.Addr == addr {
			return r
		}
	}
	t.Fatalf("no node of the sentinel group at %s", addr)
	return nil
}

func (s *Sentinel) primary(ctx context.Context) (string, error) {
	var last error
	for _, sn := range s.sentinels {
		if sn.cmd == nil { // killed
			continue
		}
		c := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr, MaxRetries: -1, DialTimeout: time.Second})
		hp, err := c.GetMasterAddrByName(ctx, SentinelMaster).Result()
		c.Close()
		if err == nil && len(hp) == 2 {
			return net.JoinHostPort(hp[0], hp[1]), nil
		}
		last = err
	}
	return "", fmt.Errorf("no sentinel names the primary: %v", last)
}

// waitSettled waits until the group can fail over: each sentinel sees the others and both
// replicas, and both replicas' links to the primary are up.
func (s *Sentinel) waitSettled(within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var err error
	for {
		if err = s.settled(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not settled within %s: %w", within, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *Sentinel) settled(ctx context.Context) error {
	for _, sn := range s.sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr, MaxRetries: -1})
		m, err := c.Master(ctx, SentinelMaster).Result()
		c.Close()
		if err != nil {
			return fmt.Errorf("sentinel %s: %w", sn.Addr, err)
		}
		if m["num-other-sentinels"] != strconv.Itoa(len(s.sentinels)-1) || m["num-slaves"] != strconv.Itoa(len(s.nodes)-1) {
			return fmt.Errorf("sentinel %s sees %s other sentinels and %s replicas", sn.Addr, m["num-other-sentinels"], m["num-slaves"])
		}
	}
	for _, n := range s.nodes[1:] {
		if err := replicaInSync(ctx, n.Addr); err != nil {
			return err
		}
	}
	return nil
}

// replicaInSync checks that the replica at addr has its link to the primary up.
func replicaInSync(ctx context.Context, addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return fmt.Errorf("replica %s: %w", addr, err)
	}
	if infoField(info, "master_link_status") != "up" {
		return fmt.Errorf("replica %s: link to the primary not up", addr)
	}
	return nil
}

func addrs(rs []*Redis) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Addr
	}
	return out
}
