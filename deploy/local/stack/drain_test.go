package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/fakes/modelserver"
	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/runnerqueue"
)

// The heads of the draining test: ports of their own (6397/8297 and the next, 6398/8298), apart
// from TestStackOnTwoClusters' and every other head of the project.
const (
	drainHeadPort      = "6397"
	drainDashboardPort = "8297"
	// Deliberations of the burst before the drain (over both clusters) and of the one after it.
	drainBurstA = 16
	drainBurstB = 12
	// drainModelDelay is every model call's: ray-2's deliberations must still run when it drains.
	drainModelDelay = 6 * time.Second
	// minHeldAtDrain is how many deliberations ray-2 runs, at least, when it is marked draining.
	minHeldAtDrain = 2
	// drainSlots is each runner's max_deliberations: burst A exceeds both together, so each
	// cluster takes a share and the rest of A waits in the queue for the drain.
	drainSlots = 6
)

var clustersFileLine = regexp.MustCompile(`RAY_CLUSTERS_FILE (\S+clusters\.json)`)

// TestStackDrainsACluster is the draining of issue 24 through the configuration, on two real
// heads: `RUN_RAY_CLUSTERS=2 make run` with 6 slots per runner, a burst A of 16 over both clusters, then, while ray-2 runs some
// of A, `"draining": true` on ray-2 in the functions' RAY_CLUSTERS_FILE and SIGHUP to the launcher
// (the functions restart and publish the state into the clusters hash, as a rollout after a
// ConfigMap change does). The rest of A and a burst B then run on ray-1 only; what ray-2 held finishes on ray-2,
// not handed back; every deliberation of A and B completes exactly once, in one attempt.
func TestStackDrainsACluster(t *testing.T) {
	// Not parallel: each two-cluster test starts two Ray heads, one test at a time.
	root := repoRoot(t)
	requireRay(t, root)
	l, model, redis, _ := startTwoClusters(t, root, [2]string{drainHeadPort, drainDashboardPort}, "/tmp/rxdrain",
		fmt.Sprintf(`{"claim_idle_s":%g,"heartbeat_s":%g,"max_deliberations":%d}`,
			testClaimIdle.Seconds(), testHeartbeat.Seconds(), drainSlots))
	start := time.Now()
	m := clustersFileLine.FindStringSubmatch(l.out.String())
	if m == nil {
		t.Fatal("the launcher names no RAY_CLUSTERS_FILE")
	}
	rdb := redisClient(t, redis.URL())
	keys := runnerqueue.NewKeys("rayexec")
	if v := rdb.HGet(t.Context(), keys.Clusters(), "ray-2").Val(); v != `{"draining":false}` {
		t.Errorf("ray-2's state in the clusters hash is %q at start, want not draining", v)
	}

	// A: a burst over both clusters, slow enough that ray-2 still runs some of it when it drains.
	model.SetBehavior("m1", modelserver.Behavior{Answer: "drain", Delay: drainModelDelay})
	model.SetBehavior("m2", modelserver.Behavior{Answer: "drain", Delay: drainModelDelay})
	before := stats(t, l)
	a := burst(t, l, model, drainBurstA)
	var held []string
	until(t, 90*time.Second, "ray-2 running deliberations of burst A", func() bool {
		held = runningOn(t, l, a, "ray-2")
		return len(held) >= minHeldAtDrain
	})

	// ray-2 drains: through the configuration, the one switch.
	markDraining(t, m[1], "ray-2")
	drained := time.Now()
	if err := l.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	until(t, time.Minute, "the functions restarted", func() bool { return strings.Contains(l.out.String(), "functions restarted") })
	until(t, 10*time.Second, "ray-2 draining in the clusters hash", func() bool {
		return rdb.HGet(t.Context(), keys.Clusters(), "ray-2").Val() == `{"draining":true}`
	})
	// The runner reads its cluster's state every second (runner_cluster.py's DRAIN_CHECK_S).
	time.Sleep(2 * time.Second)
	stillRunning := runningOn(t, l, held, "ray-2")
	t.Logf("ray-2 marked draining while it ran %d deliberations of A; %d still running once it read the state (%s later)",
		len(held), len(stillRunning), time.Since(drained).Round(time.Millisecond))
	if len(stillRunning) == 0 {
		t.Fatal("ray-2 finished everything it held before it drained: the drain tested nothing (raise drainModelDelay)")
	}

	// B: new work after the drain, on ray-1 only.
	b := burst(t, l, model, drainBurstB)
	all := append(append([]string{}, a...), b...)
	last := waitCompleted(t, l, all, 4*time.Minute)
	split := map[string]int{}
	for _, id := range a {
		split[clusterOf(t, l, id)]++
	}
	if split["ray-1"] == 0 || split["ray-2"] == 0 {
		t.Errorf("burst A ran on %v, want both ray-1 and ray-2", split)
	}
	var onRay1 int
	for _, id := range b {
		if c := clusterOf(t, l, id); c == "ray-1" {
			onRay1++
		} else {
			t.Errorf("%s of burst B ran on %q after ray-2 drained, want ray-1", id, c)
		}
	}
	for _, id := range held {
		if c := clusterOf(t, l, id); c != "ray-2" {
			t.Errorf("%s, which ray-2 ran when it drained, finished on %q: a draining cluster finishes what it holds", id, c)
		}
	}
	t.Logf("FIGURES drain: N=%d deliberations (A=%d over both clusters: %v; B=%d submitted after ray-2 drained: %d on ray-1); "+
		"ray-2 held %d of A when marked draining (%d still running once it read the state) and finished them itself; "+
		"model calls %s each; the last completed %s after the drain, %s after the stack was up",
		len(all), len(a), split, len(b), onRay1, len(held), len(stillRunning), drainModelDelay,
		last.Sub(drained).Round(time.Millisecond), time.Since(start).Round(time.Second))
	now := stats(t, l)
	for _, k := range []string{"total_deliberations", "completed_deliberations"} {
		if got := now[k] - before[k]; got != float64(len(all)) {
			t.Errorf("%s grew by %v over both bursts, want %d: every deliberation counted exactly once", k, got, len(all))
		}
	}
	for _, id := range all {
		if st := get(t, l.url("status")+"/"+id, token); st["attempts"] != float64(1) {
			t.Errorf("%s took %v attempts, want 1", id, st["attempts"])
		}
	}
}

// runningOn returns the ids among ids that are running on cluster, as their status answers say.
func runningOn(t *testing.T, l *stackProcess, ids []string, cluster string) []string {
	t.Helper()
	var out []string
	for _, id := range ids {
		st := get(t, l.url("status")+"/"+id, token)
		if st["status"] == "running" && st["cluster"] == cluster {
			out = append(out, id)
		}
	}
	return out
}

func clusterOf(t *testing.T, l *stackProcess, id string) string {
	t.Helper()
	c, _ := get(t, l.url("status")+"/"+id, token)["cluster"].(string)
	return c
}

// markDraining sets draining on the named cluster in the functions' clusters file, as an operator
// edits the mounted ConfigMap.
func markDraining(t *testing.T, file, name string) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var list []config.RayCluster
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatal(err)
	}
	found := false
	for i := range list {
		if list[i].Name == name {
			list[i].Draining, found = true, true
		}
	}
	if !found {
		t.Fatalf("%s lists no cluster %s: %s", file, name, raw)
	}
	if raw, err = json.Marshal(list); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}
