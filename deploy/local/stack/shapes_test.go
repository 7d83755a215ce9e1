package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/fakes/modelserver"
	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/rayserve"
)

// TestStackOnRedisShapes is `REDIS_MODE=sentinel make run` and `REDIS_MODE=cluster make run`: the
// launcher starts a local Sentinel group, or a local Cluster, of redis-server processes, and a
// deliberation submitted over HTTP completes on the Serve runner (deployed on the tests' head
// with the same URL and mode), its status and the stats exact. Ctrl-C then stops every server.
func TestStackOnRedisShapes(t *testing.T) {
	ray := os.Getenv("RAY_TEST_ADDRESS")
	if ray == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("RAY_TEST_ADDRESS is not set: CI needs a real Ray head (deploy/local/with-ray-head.sh)")
		}
		t.Skip("RAY_TEST_ADDRESS is not set: no real Ray head to run on")
	}
	testenv.Require(t, "redis-server")
	testenv.Require(t, "redis-cli")
	root := repoRoot(t)
	bin := binDir(t, root)
	// The runner is deployed on the tests' shared head: Serve's config is one per head.
	unlock, err := raytest.LockServe(ray)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unlock)
	serve, err := rayserve.NewClient(ray, "", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// The runner left behind would read a Redis that is gone; the next holder starts clean.
	t.Cleanup(func() { _ = serve.DeleteAll(context.Background()) })
	for _, c := range []struct{ mode, note string }{
		{config.RedisSentinel, "local Sentinel group"},
		{config.RedisCluster, "local Redis Cluster"},
	} {
		t.Run(c.mode, func(t *testing.T) {
			model := modelserver.New(t)
			l := startLauncher(t, filepath.Join(bin, "stack"), root, map[string]string{
				"REDIS_MODE": c.mode, "RAY_ADDRESS": ray, "RAY_DISPATCH": "serve", "API_TOKEN": token,
				"VLLM_URL_ALLOWLIST": model.URL(),
			}, "-bin-dir", bin)
			start := time.Now()
			l.waitUp(t, 4*time.Minute)
			t.Logf("stack up in %s", time.Since(start).Round(time.Millisecond))
			if !strings.Contains(l.out.String(), c.note) {
				t.Fatalf("the table does not say %q", c.note)
			}
			servers := redisServers(t, l)
			if len(servers) != 6 {
				t.Fatalf("the launcher runs %d redis-server processes, want 6: %v", len(servers), servers)
			}
			rdb := shapeClient(t, l, c.mode)

			id := deliberate(t, l, model)
			stats := get(t, l.url("combined")+"/stats", token)["stats"].(map[string]any)
			if stats["total_deliberations"] != 1.0 || stats["completed_deliberations"] != 1.0 || stats["active_deliberations"] != 0.0 {
				t.Errorf("stats after one completed deliberation: %v", stats)
			}
			status := get(t, l.url("combined")+"/deliberations/"+id, token)
			if status["status"] != "completed" {
				t.Errorf("the combined router says %s is %v, want completed", id, status["status"])
			}
			// The state is in the servers the launcher started, not in an embedded Redis.
			if keys := dbSize(t, rdb, c.mode); keys == 0 {
				t.Errorf("the %s the launcher started holds no key", c.mode)
			}

			code, took := l.interrupt(stopWithin)
			t.Logf("stopped in %s", took.Round(time.Millisecond))
			if code != 0 {
				t.Errorf("the launcher exited %d after SIGINT, want 0", code)
			}
			for _, p := range servers {
				if p.alive() {
					t.Errorf("redis-server %d survived the launcher: %s", p.pid, p.cmd)
				}
			}
		})
	}
}

// redisServers are the launcher's redis-server children (sentinels included).
func redisServers(t *testing.T, l *stackProcess) []proc {
	t.Helper()
	var out []proc
	for _, p := range descendants(t, l.proc.Pid()) {
		if strings.HasPrefix(p.cmd, "redis-server") || strings.Contains(strings.Fields(p.cmd)[0], "/redis-server") {
			out = append(out, p)
		}
	}
	return out
}

// tableRedisURL is the Redis URL the launcher's table shows.
var tableRedisURL = regexp.MustCompile(`(?m)^\s+Redis\s+(redis://\S+)`)

// shapeClient connects to the Redis of the launcher's table as the functions do.
func shapeClient(t *testing.T, l *stackProcess, mode string) goredis.UniversalClient {
	t.Helper()
	m := tableRedisURL.FindStringSubmatch(l.out.String())
	if m == nil {
		t.Fatal("the table shows no Redis URL")
	}
	rdb, err := config.NewRedisClient(mode, m[1], config.RedisTimeouts{Dial: 2 * time.Second, Read: 5 * time.Second, Write: 5 * time.Second})
	if err != nil {
		t.Fatalf("the table's Redis URL %s is no %s URL: %v", m[1], mode, err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// dbSize is how many keys the Redis holds: on a cluster, summed over the primaries.
func dbSize(t *testing.T, rdb goredis.UniversalClient, mode string) int64 {
	t.Helper()
	ctx := t.Context()
	cluster, ok := rdb.(*goredis.ClusterClient)
	if mode != config.RedisCluster || !ok {
		n, err := rdb.DBSize(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	var total atomic.Int64
	err := cluster.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error {
		n, err := c.DBSize(ctx).Result()
		total.Add(n)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return total.Load()
}
