//go:build faults

package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/rayjob"
	"github.com/rayexecutor/functions/shared/rayserve"
	"github.com/rayexecutor/functions/shared/runnerqueue"
)

// dispatch is how the suite's functions reach Ray (FAULTS_DISPATCH: jobs, the default, or serve).
func dispatch(t *testing.T) string {
	switch d := os.Getenv("FAULTS_DISPATCH"); d {
	case "", "jobs":
		return "jobs"
	case "serve":
		return d
	default:
		t.Fatalf("FAULTS_DISPATCH must be jobs or serve, got %q", d)
		return ""
	}
}

// runnerClaimIdle is how long a dead replica's attempt waits before another takes it over: short,
// so the suite's takeovers land well inside the deliberations' deadlines.
const runnerClaimIdle = 10

// deployRunner puts the deliberation runner on one of the suite's heads, as an operator's
// RayService would after every start of the cluster.
func deployRunner(t *testing.T, s *stack, h *rayHead) {
	t.Helper()
	client, err := rayserve.NewClient(h.Address, "", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	name, zip, err := rayjob.Package()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	app := rayserve.RunnerApplication{ImportPath: rayjob.RunnerImportPath, Args: map[string]any{
		"redis_url": s.redis.URL(), "redis_mode": s.redis.mode, "key_prefix": keyPrefix, "max_deliberations": 64,
		"claim_idle_s": runnerClaimIdle, "heartbeat_s": 2,
		"allowed_origins": []string{s.model.URL()}, "callback_url": s.callback}, Cluster: h.name}
	if err := client.DeployRunner(t.Context(), app, name, zip, 3*time.Minute); err != nil {
		t.Fatalf("deliberation runner: %v", err)
	}
	t.Logf("deliberation runner deployed on %s in %s", h.name, time.Since(start).Round(time.Millisecond))
}

// killRunnerReplica SIGKILLs the runner's replica processes mid-work: Serve starts new ones, and
// the attempts the dead ones held are claimed again once idle.
func killRunnerReplica(t *testing.T, s *stack) {
	killed := 0
	for _, pid := range processesNamed("ServeReplica:deliberation-runner") {
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed++
		}
	}
	if killed == 0 {
		t.Error("no runner replica process to kill")
	}
}

// processesNamed lists the pids whose command line contains name (Ray workers rename themselves).
func processesNamed(name string) []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		cmd, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil || !strings.Contains(string(cmd), name) {
			continue
		}
		var pid int
		if _, err := fmt.Sscan(filepath.Base(dir), &pid); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitQueueDrained waits until the runners' queue holds no entry, pending or new: every attempt
// was run (or skipped) and acknowledged.
func waitQueueDrained(ctx context.Context, rdb redis.UniversalClient, within time.Duration) (int64, error) {
	deadline := time.Now().Add(within)
	for {
		n, err := runnerqueue.QueueLength(ctx, rdb, runnerqueue.NewKeys(keyPrefix))
		if (err == nil && n == 0) || time.Now().After(deadline) || ctx.Err() != nil {
			return n, err
		}
		time.Sleep(time.Second)
	}
}
