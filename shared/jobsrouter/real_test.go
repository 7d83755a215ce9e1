package jobsrouter_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/fakes/modelserver"
	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/jobsrouter"
	"github.com/rayexecutor/functions/shared/rayjob"
	"github.com/rayexecutor/functions/shared/rayjobs"
	"github.com/rayexecutor/functions/shared/redisstore"
)

// Two real Ray heads share a burst of deliberations running the real job; one head is then
// SIGKILLed with its attempts mid-run, and every deliberation still completes exactly once, those
// of the lost head on the other one as their second attempt.
func TestTwoRealHeadsShareABurstAndSurviveLosingOne(t *testing.T) {
	heads := twoHeads(t)
	srv := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	owner := raytest.UniqueID("router")
	var members []jobsrouter.Member
	for i, h := range heads {
		c, err := rayjobs.NewCluster(rayjobs.Config{ClientConfig: rayjobs.ClientConfig{Address: h.Address, Timeout: 10 * time.Second},
			JobPackage: rayjob.Package, PackageEntrypoint: rayjob.Entrypoint, Owner: owner, Policy: raytest.OpenLimits.JobPolicy()})
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, jobsrouter.Member{Name: names[i], Port: c, Pools: []string{deliberation.DefaultPool},
			Capacity: 1, Breaker: c.Client().BreakerState})
	}
	log := slog.New(slog.DiscardHandler)
	rt, err := jobsrouter.New(rdb, members, jobsrouter.Options{Prefix: owner, LostAfter: 10 * time.Second, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	settings := app.DefaultSettings()
	settings.Limits = raytest.OpenLimits
	settings.CheckPeriod, settings.DeadlineGrace = 200*time.Millisecond, time.Second
	// An attempt stranded on the lost head is moved once it is this old.
	settings.PendingLimit = 40 * time.Second
	f := raytest.Flow{Svc: app.NewService(redisstore.New(rdb, redisstore.Options{Prefix: owner}), rt, nil, settings, log),
		Model: modelserver.New(t)}
	// Slow agents keep the attempts running when the head goes.
	f.Model.SetBehavior("m-slow", modelserver.Behavior{Delay: 15 * time.Second})

	const n = 6
	var ids []string
	start := time.Now()
	for range n {
		sub, err := f.Svc.Execute(ctx, app.ExecuteCommand{Input: f.Input(300, 1,
			deliberation.AgentConfig{AgentID: "dev-1", Role: "DEV", Model: "m-slow"})})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sub.DeliberationID)
	}
	onTwo := waitRunning(t, f.Svc, ids, 120*time.Second)
	if len(onTwo) == 0 || len(onTwo) == n {
		t.Fatalf("%d of %d deliberations on ray-2: the burst was not shared", len(onTwo), n)
	}
	killed := time.Now()
	t.Logf("burst shared: %d on ray-1, %d on ray-2, all running %s after the first execute; SIGKILL of ray-2: %s",
		n-len(onTwo), len(onTwo), killed.Sub(start).Round(time.Millisecond), heads[1].kill(t))

	var polls sync.WaitGroup
	finals := make([]app.StatusReport, n)
	for i, id := range ids {
		polls.Go(func() { finals[i] = f.PollUntilTerminal(t, id, 240*time.Second) })
	}
	polls.Wait()
	t.Logf("every deliberation terminal %s after the kill", time.Since(killed).Round(time.Millisecond))
	for i, id := range ids {
		d, err := f.Svc.Store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		wantAttempts := 1
		if onTwo[id] {
			wantAttempts = 2
		}
		if finals[i].Status != deliberation.StatusCompleted || d.Attempts != wantAttempts || d.Cluster != "ray-1" {
			t.Errorf("%s: %s (%s), %d attempts, on %q; want completed on ray-1 in %d", id, finals[i].Status,
				finals[i].ErrorMessage, d.Attempts, d.Cluster, wantAttempts)
		}
	}
	f.WantStats(t, n, 0, n, 0, 0)
}

// waitRunning polls until every deliberation runs, and answers those running on ray-2.
func waitRunning(t *testing.T, svc *app.Service, ids []string, within time.Duration) map[string]bool {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		onTwo, running := map[string]bool{}, 0
		for _, id := range ids {
			if _, err := svc.Status(ctx, id); err != nil {
				t.Fatal(err)
			}
			d, err := svc.Store.Get(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if d.Status == deliberation.StatusRunning {
				running++
			}
			if d.Cluster == "ray-2" {
				onTwo[id] = true
			}
			if d.Status.Terminal() {
				t.Fatalf("%s ended before the kill: %s (%s)", id, d.Status, d.ErrorMessage)
			}
		}
		if running == len(ids) {
			return onTwo
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d deliberations running after %s", running, len(ids), within)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
