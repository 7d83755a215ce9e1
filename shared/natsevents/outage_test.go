package natsevents_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/fakes"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// TestOutageLosesNothing: 100 deliberations go through their lifecycle (every tenth through a
// retry attempt) against real redis-server and nats-server processes; nats-server is stopped for
// the second half of the run. Once it is back and the outbox drained, an independent consumer of
// the stream reads every expected event exactly once, in order per deliberation, each a valid
// CloudEvent.
func TestOutageLosesNothing(t *testing.T) {
	t.Parallel()
	redisSrv := testenv.StartRedis(t)
	natsSrv := testenv.StartNATS(t)
	store := storeOn(t, redisSrv.Addr, "outage")
	jobs, ray := newRay(t)
	svc := service(unthrottled{store}, ray, publisher(t, natsSrv.URL(), store))

	const n = 100
	ids := make([]string, n)
	want := map[string][]string{}
	for i := range ids {
		ids[i] = execute(t, svc)
		want[ids[i]] = []string{ids[i] + ".submitted", ids[i] + ".started"}
	}
	run := func(i int) {
		jobs.set(ids[i], deliberation.JobRunning)
		if r := poll(t, svc, ids[i]); r.Status != deliberation.StatusRunning {
			t.Fatalf("%s = %s, want running", ids[i], r.Status)
		}
	}
	for i := range n / 2 {
		run(i)
	}

	natsSrv.Stop()
	for i := n / 2; i < n; i++ {
		run(i)
	}
	for i, id := range ids {
		final := finish(t, svc, jobs, id, i)
		want[id] = append(want[id], final...)
	}
	if depth, err := store.OutboxDepth(context.Background()); err != nil || depth != n {
		t.Fatalf("outbox holds events of %d deliberations during the outage (%v), want all %d", depth, err, n)
	}
	natsSrv.Restart(t)

	drained(t, svc, store, 30*time.Second)
	got := byDeliberation(t, readStream(t, natsSrv.URL()))
	if len(got) != n {
		t.Errorf("the stream holds events of %d deliberations, want %d", len(got), n)
	}
	total := 0
	for id, events := range want {
		total += len(events)
		if !slices.Equal(got[id], events) {
			t.Errorf("events of %s = %v, want %v", id, got[id], events)
		}
	}
	t.Logf("%d events of %d deliberations read back exactly once, in order", total, n)
}

// finish ends deliberation i while NATS is down: completed (even), failed (odd), or, every tenth,
// completed by a second attempt after an infrastructure failure. It returns the events caused.
func finish(t *testing.T, svc *app.Service, jobs *rayJobs, id string, i int) []string {
	t.Helper()
	want := deliberation.StatusCompleted
	var events []string
	switch {
	case i%10 == 3:
		second := deliberation.SubmissionID(id, 2)
		jobs.setInfraFailure(id)
		jobs.set(second, deliberation.JobRunning)
		poll(t, svc, id)
		poll(t, svc, id)
		jobs.set(second, deliberation.JobSucceeded)
		events = []string{second + ".started", second + ".completed"}
	case i%2 == 0:
		jobs.set(id, deliberation.JobSucceeded)
		events = []string{id + ".completed"}
	default:
		jobs.set(id, deliberation.JobFailed)
		want = deliberation.StatusFailed
		events = []string{id + ".failed"}
	}
	if r := poll(t, svc, id); r.Status != want {
		t.Fatalf("%s = %+v, want %s", id, r, want)
	}
	return events
}

// TestReconnectionCatchesUp: events recorded while NATS was down go out once the connection is
// back, with no reconcile pass and no new transition to prompt them.
func TestReconnectionCatchesUp(t *testing.T) {
	t.Parallel()
	natsSrv := testenv.StartNATS(t)
	store := miniStore(t)
	svc := service(store, &fakes.Ray{}, publisher(t, natsSrv.URL(), store))
	first := execute(t, svc)
	drained(t, svc, store, 10*time.Second)
	natsSrv.Stop()
	ids := []string{first}
	for range 5 {
		ids = append(ids, execute(t, svc))
	}
	natsSrv.Restart(t)
	deadline := time.Now().Add(15 * time.Second)
	for n, _ := store.OutboxDepth(context.Background()); n != 0; n, _ = store.OutboxDepth(context.Background()) {
		if time.Now().After(deadline) {
			t.Fatalf("%d deliberations still wait in the outbox after the reconnection", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := byDeliberation(t, readStream(t, natsSrv.URL()))
	for _, id := range ids {
		if !slices.Equal(got[id], []string{id + ".submitted"}) {
			t.Errorf("events of %s = %v, want its submitted event once", id, got[id])
		}
	}
}
