package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/fakes/modelserver"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/rayserve"
	"github.com/rayexecutor/functions/shared/runnerqueue"
)

// The two heads of the cluster test: ports of their own (6395/8295 and the next, 6396/8296), apart
// from every other head of the project, and the runner's claim settings, short so that a dead
// cluster's attempts are taken over within seconds.
const (
	clustersHeadPort      = "6395"
	clustersDashboardPort = "8295"
	testClaimIdle         = 5 * time.Second
	testHeartbeat         = time.Second
	// Deliberations of each burst; the second burst loses one cluster half-way.
	shareBurst = 24
	killBurst  = 40
	// minHeldAtKill is how many attempts each consumer holds, at least, when one cluster is lost.
	minHeldAtKill = 3
	// clusterSlots is each runner's max_deliberations. A runner takes what it has room for, so
	// one with room for a whole burst may take all of it (work goes where there is room, not
	// evenly): each has room for less than half a burst here.
	clusterSlots = 10
)

// TestStackOnTwoClusters is `RUN_RAY_CLUSTERS=2 make run` (issue 24): the launcher starts two
// local heads, ray-1 and ray-2, with the runner on each, both consuming the one queue in Redis.
// A burst over HTTP must spread over both (each runner takes a share), then in a second burst
// one whole head is SIGKILLed while its runner holds attempts: every deliberation that got 202
// must still complete, exactly once, on the other cluster after claim_idle_s.
func TestStackOnTwoClusters(t *testing.T) {
	// Not parallel: each two-cluster test starts two Ray heads, one test at a time.
	root := repoRoot(t)
	requireRay(t, root)
	l, model, redis, heads := startTwoClusters(t, root, [2]string{clustersHeadPort, clustersDashboardPort}, "/tmp/rxheads",
		fmt.Sprintf(`{"claim_idle_s":%g,"heartbeat_s":%g,"max_deliberations":%d}`, testClaimIdle.Seconds(), testHeartbeat.Seconds(), clusterSlots))
	for i, name := range []string{"ray-1", "ray-2"} {
		if !strings.Contains(l.out.String(), "Ray "+name) || !strings.Contains(l.out.String(), "http://127.0.0.1:"+heads[i]["RAY_DASHBOARD_PORT"]) {
			t.Errorf("the table does not show %s on dashboard port %s", name, heads[i]["RAY_DASHBOARD_PORT"])
		}
		if n := runningReplicas(t, "http://127.0.0.1:"+heads[i]["RAY_DASHBOARD_PORT"]); n != 1 {
			t.Fatalf("%s runs %d runner replicas, want 1 (a consumer per cluster)", name, n)
		}
	}
	rdb := redisClient(t, redis.URL())
	keys := runnerqueue.NewKeys("rayexec")

	// 1. A burst larger than one runner's room spreads over both clusters. Each head runs one
	// replica, one consumer: two consumers that each held entries are two clusters that each
	// took a share.
	model.SetBehavior("m1", modelserver.Behavior{Answer: "share", Delay: time.Second})
	model.SetBehavior("m2", modelserver.Behavior{Answer: "share", Delay: time.Second})
	owners := watchOwners(t, rdb, keys)
	ids := burst(t, l, model, shareBurst)
	waitCompleted(t, l, ids, 3*time.Minute)
	shares := owners.stop()
	t.Logf("share burst: %d deliberations; entries held per consumer: %v", len(ids), shares.counts())
	if len(shares.byConsumer) != 2 {
		t.Errorf("%d consumers held the burst's entries, want both clusters' (2): %v", len(shares.byConsumer), shares.counts())
	}
	assertClusterNames(t, l, ids)

	// 2. One cluster lost mid-burst: its attempts are claimed by the other's runner.
	model.SetBehavior("m1", modelserver.Behavior{Answer: "kill", Delay: 2 * time.Second})
	model.SetBehavior("m2", modelserver.Behavior{Answer: "kill", Delay: 2 * time.Second})
	before := stats(t, l)
	owners = watchOwners(t, rdb, keys)
	submitted := time.Now()
	ids = burst(t, l, model, killBurst)
	// Both consumers hold several attempts before the kill; the victim's consumer is the one whose
	// heartbeat stops afterwards.
	until(t, 60*time.Second, "both consumers holding entries", func() bool {
		held := owners.snapshot().counts()
		for _, n := range held {
			if n < minHeldAtKill {
				return false
			}
		}
		return len(held) == 2
	})
	killed := time.Now()
	rayhead(t, root, heads[1], "kill")
	t.Logf("SIGKILLed every process of ray-2 %s after the burst began", killed.Sub(submitted).Round(time.Millisecond))
	dead := deadConsumer(t, rdb, keys, 4*testHeartbeat+2*time.Second)
	heldAtKill := owners.snapshot().byConsumer[dead]
	last := waitCompleted(t, l, ids, 3*time.Minute)
	after := owners.stop()
	after.byConsumer[dead] = nil
	var moved int
	for id := range heldAtKill {
		for c, held := range after.byConsumer {
			if c != dead && held[id] {
				moved++
				break
			}
		}
	}
	t.Logf("FIGURES cluster kill: N=%d deliberations (202 each), ray-2 SIGKILLed %s after the burst began holding %d of them; "+
		"the last completed %s after the kill (claim_idle_s=%s, heartbeat_s=%s, PENDING_LIMIT default 15m, model calls 2 s each); "+
		"%d of the dead cluster's entries were seen taken over by ray-1's consumer",
		len(ids), killed.Sub(submitted).Round(time.Millisecond), len(heldAtKill), last.Sub(killed).Round(time.Millisecond),
		testClaimIdle, testHeartbeat, moved)
	if len(heldAtKill) == 0 {
		t.Error("the killed cluster held no attempt: the kill tested nothing")
	}
	now := stats(t, l)
	for _, k := range []string{"total_deliberations", "completed_deliberations"} {
		if got := now[k] - before[k]; got != float64(len(ids)) {
			t.Errorf("%s grew by %v over the burst, want %d: every deliberation counted exactly once", k, got, len(ids))
		}
	}
	for _, id := range ids {
		if st := get(t, l.url("status")+"/"+id, token); st["attempts"] != float64(1) {
			t.Errorf("%s took %v attempts, want 1: a takeover is the same attempt", id, st["attempts"])
		}
	}
}

// burst submits n deliberations at once over HTTP (the execute function) and returns their ids:
// each must be answered 202.
func burst(t *testing.T, l *stackProcess, model *modelserver.Server, n int) []string {
	t.Helper()
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			res, body := call(t, http.MethodPost, l.url("execute")+"/", exampleFor(model.URL()), token)
			if res != http.StatusAccepted {
				errs <- fmt.Errorf("execute %d answered %d: %v", i, res, body)
				return
			}
			ids[i], _ = body["deliberation_id"].(string)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return ids
}

// waitCompleted polls until every id is completed and returns when the last one finished (its
// finished_at); a failed or cancelled one fails the test.
func waitCompleted(t *testing.T, l *stackProcess, ids []string, within time.Duration) time.Time {
	t.Helper()
	left := slices.Clone(ids)
	var last time.Time
	deadline := time.Now().Add(within)
	for len(left) > 0 {
		var still []string
		for _, id := range left {
			st := get(t, l.url("status")+"/"+id, token)
			switch st["status"] {
			case "completed":
				if at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(st["finished_at"])); err == nil && at.After(last) {
					last = at
				}
			case "failed", "cancelled":
				t.Fatalf("%s ended %v: %v", id, st["status"], st)
			default:
				still = append(still, id)
			}
		}
		left = still
		if len(left) > 0 && time.Now().After(deadline) {
			t.Fatalf("%d deliberations not completed within %s: %v", len(left), within, left)
		}
		if len(left) > 0 {
			time.Sleep(250 * time.Millisecond)
		}
	}
	return last
}

// assertClusterNames checks the cluster each status answer names (the runner records its own
// name): every deliberation names ray-1 or ray-2, and both ran some.
func assertClusterNames(t *testing.T, l *stackProcess, ids []string) {
	t.Helper()
	seen := map[string]int{}
	for _, id := range ids {
		c, _ := get(t, l.url("status")+"/"+id, token)["cluster"].(string)
		seen[c]++
	}
	t.Logf("clusters named by the status answers: %v", seen)
	if len(seen) != 2 || seen["ray-1"] == 0 || seen["ray-2"] == 0 {
		t.Errorf("the burst ran on %v, want both ray-1 and ray-2", seen)
	}
}

func stats(t *testing.T, l *stackProcess) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for k, v := range get(t, l.url("stats")+"/", token)["stats"].(map[string]any) {
		if f, ok := v.(float64); ok {
			out[k] = f
		}
	}
	return out
}

// runningReplicas counts the RUNNING replicas of every Serve application on the head at dashboard.
func runningReplicas(t *testing.T, dashboard string) int {
	t.Helper()
	c, err := rayserve.NewClient(dashboard, "", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	apps, err := c.Applications(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range apps {
		for _, d := range a.Deployments {
			n += d.Running()
		}
	}
	return n
}

// owners records which consumer held which queue entry, from XPENDING samples: every entry a
// runner reads or claims is pending under its consumer until it is acknowledged.
type owners struct {
	mu         sync.Mutex
	byConsumer map[string]map[string]bool // consumer -> entry ids it held
	cancel     context.CancelFunc
	done       chan struct{}
}

func watchOwners(t *testing.T, rdb *goredis.Client, keys runnerqueue.Keys) *owners {
	ctx, cancel := context.WithCancel(t.Context())
	o := &owners{byConsumer: map[string]map[string]bool{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(o.done)
		for ctx.Err() == nil {
			for s := range runnerqueue.Shards {
				pending, err := rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: keys.Queue(s), Group: "runners",
					Start: "-", End: "+", Count: 10000}).Result()
				if err != nil {
					continue
				}
				o.mu.Lock()
				for _, p := range pending {
					if o.byConsumer[p.Consumer] == nil {
						o.byConsumer[p.Consumer] = map[string]bool{}
					}
					o.byConsumer[p.Consumer][fmt.Sprint(s)+"/"+p.ID] = true
				}
				o.mu.Unlock()
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	t.Cleanup(o.cancel)
	return o
}

// snapshot copies what was seen so far.
func (o *owners) snapshot() *owners {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := &owners{byConsumer: map[string]map[string]bool{}}
	for k, v := range o.byConsumer {
		c.byConsumer[k] = map[string]bool{}
		for id := range v {
			c.byConsumer[k][id] = true
		}
	}
	return c
}

func (o *owners) stop() *owners {
	o.cancel()
	<-o.done
	return o.snapshot()
}

func (o *owners) counts() map[string]int {
	out := map[string]int{}
	for c, ids := range o.byConsumer {
		out[c] = len(ids)
	}
	return out
}

// deadConsumer waits until one consumer of the replicas hash stops heartbeating for quiet and
// returns it: the killed cluster's.
func deadConsumer(t *testing.T, rdb *goredis.Client, keys runnerqueue.Keys, quiet time.Duration) string {
	t.Helper()
	var dead string
	until(t, 30*time.Second, "a consumer stops heartbeating", func() bool {
		figures, err := rdb.HGetAll(t.Context(), keys.Replicas()).Result()
		if err != nil {
			return false
		}
		var stale []string
		for consumer, raw := range figures {
			var f struct {
				UpdatedMS int64 `json:"updated_ms"`
			}
			if json.Unmarshal([]byte(raw), &f) == nil && time.Since(time.UnixMilli(f.UpdatedMS)) > quiet {
				stale = append(stale, consumer)
			}
		}
		if len(stale) == 1 && len(figures) == 2 {
			dead = stale[0]
			return true
		}
		return false
	})
	return dead
}

func redisClient(t *testing.T, url string) *goredis.Client {
	t.Helper()
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// until polls cond every 100 ms for at most within, and fails the test when it never holds.
func until(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
	}
}

// rayhead runs deploy/local/rayhead.sh verb for the head of env (stop, or kill: every process of
// the head SIGKILLed at once, as a lost cluster).
func rayhead(t *testing.T, root string, env map[string]string, verb string) {
	cmd := exec.Command(filepath.Join(root, "deploy", "local", "rayhead.sh"), verb)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("rayhead.sh %s: %v\n%s", verb, err, out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
}

// startTwoClusters is `RUN_RAY_CLUSTERS=2 make run` with the first head on ports (GCS, dashboard),
// the second on the next ones, temp dirs under tempPrefix, and runnerArgs merged into both
// runners' Serve args; the heads are stopped when the test ends.
func startTwoClusters(t *testing.T, root string, ports [2]string, tempPrefix, runnerArgs string) (*stackProcess, *modelserver.Server, *testenv.Redis, []map[string]string) {
	t.Helper()
	testenv.Require(t, "curl")
	testenv.Require(t, "setsid")
	bin := binDir(t, root)
	model := modelserver.New(t)
	redis := testenv.StartRedis(t)
	tempDir := fmt.Sprintf("%s-%d", tempPrefix, os.Getpid())
	next := func(port string) string { n, _ := strconv.Atoi(port); return strconv.Itoa(n + 1) }
	heads := []map[string]string{
		{"RAY_HEAD_PORT": ports[0], "RAY_DASHBOARD_PORT": ports[1], "RAY_HEAD_TEMP_DIR": tempDir},
		{"RAY_HEAD_PORT": next(ports[0]), "RAY_DASHBOARD_PORT": next(ports[1]), "RAY_HEAD_TEMP_DIR": tempDir + "-2"},
	}
	t.Cleanup(func() {
		for _, h := range heads {
			rayhead(t, root, h, "stop")
			_ = os.RemoveAll(h["RAY_HEAD_TEMP_DIR"])
		}
	})
	env := map[string]string{"API_TOKEN": token, "VLLM_URL_ALLOWLIST": model.URL(), "RECONCILE_INTERVAL": "2s",
		"REDIS_URL": redis.URL(), "RUN_RAY_CLUSTERS": "2", "RUN_RUNNER_ARGS": runnerArgs}
	maps.Copy(env, heads[0])
	start := time.Now()
	l := startLauncher(t, filepath.Join(bin, "stack"), root, env, "-bin-dir", bin)
	l.waitUp(t, 6*time.Minute)
	t.Logf("stack with two clusters up in %s", time.Since(start).Round(time.Millisecond))
	return l, model, redis, heads
}
