package app_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/fakes"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// placements counts what the service reports to its Placed hook, by cluster.
func placements(h *harness) map[string]int {
	placed := map[string]int{}
	h.svc.Placed = func(cluster string) { placed[cluster]++ }
	return placed
}

// TestStatusRecordsTheClusterOnce: the cluster Ray reports is stored once, however often it is
// polled, and the started event of an attempt first seen RUNNING already names it.
func TestStatusRecordsTheClusterOnce(t *testing.T) {
	h := newHarness(t)
	placed := placements(h)
	id := h.submit(t)
	h.rayReports(app.AttemptStatus{State: deliberation.JobRunning, Cluster: "ray-2"})
	h.clock.Advance(time.Second)
	r := h.status(t, id)
	if r.Status != deliberation.StatusRunning || r.Cluster != "ray-2" || r.Pool != deliberation.DefaultPool {
		t.Fatalf("report = %+v, want running on ray-2 in the default pool", r)
	}
	stored, _ := h.store.Get(context.Background(), id)
	placedAt := stored.UpdatedAt
	h.clock.Advance(time.Second)
	for range 3 {
		if r := h.status(t, id); r.Cluster != "ray-2" {
			t.Fatalf("cluster = %q on a later poll", r.Cluster)
		}
	}
	if stored, _ = h.store.Get(context.Background(), id); stored.Cluster != "ray-2" || !stored.UpdatedAt.Equal(placedAt) {
		t.Fatalf("stored cluster %q updated %v; want ray-2 left alone since %v", stored.Cluster, stored.UpdatedAt, placedAt)
	}
	if placed["ray-2"] != 1 || len(placed) != 1 {
		t.Fatalf("placements = %v, want ray-2 once", placed)
	}
	var started []deliberation.LifecycleEvent
	for _, e := range h.events.Events() {
		if e.Name == deliberation.EventStarted {
			started = append(started, e)
		}
	}
	if len(started) != 1 || started[0].Deliberation.Cluster != "ray-2" || app.ReportOf(started[0].Deliberation).Cluster != "ray-2" {
		t.Fatalf("started events = %+v, want one naming ray-2", started)
	}
}

// TestStatusRecordsEachAttemptsCluster: a retry starts without a cluster (NextAttempt), and the
// next attempt records the cluster that runs it; a Ray side that names none leaves it empty.
func TestStatusRecordsEachAttemptsCluster(t *testing.T) {
	h := newHarness(t)
	placed := placements(h)
	id := h.submit(t)
	h.rayReports(app.AttemptStatus{State: deliberation.JobPending})
	if r := h.status(t, id); r.Cluster != "" {
		t.Fatalf("cluster = %q, but Ray named none", r.Cluster)
	}
	h.ray.StatusFn = func(_ context.Context, sub string) (app.AttemptStatus, error) {
		if sub == id {
			return app.AttemptStatus{State: deliberation.JobFailed, Infrastructure: true, Summary: "cluster lost", Cluster: "ray-1"}, nil
		}
		return app.AttemptStatus{State: deliberation.JobRunning, Cluster: "ray-2"}, nil
	}
	h.clock.Advance(time.Second)
	if r := h.status(t, id); r.Attempts != 2 || r.Cluster != "" {
		t.Fatalf("report = %+v, want attempt 2 on no cluster yet", r)
	}
	if r := h.status(t, id); r.Status != deliberation.StatusRunning || r.Cluster != "ray-2" {
		t.Fatalf("report = %+v, want attempt 2 running on ray-2", r)
	}
	if placed["ray-1"] != 1 || placed["ray-2"] != 1 {
		t.Fatalf("placements = %v, want each attempt's cluster once", placed)
	}
	var clusters []string
	for _, e := range h.events.Events() {
		clusters = append(clusters, e.Name+"@"+e.Deliberation.Cluster)
	}
	if want := []string{"submitted@", "started@ray-2"}; !slices.Equal(clusters, want) {
		t.Fatalf("events = %v, want %v", clusters, want)
	}
}

// TestStatusOfAPoolNamesIt: the pool the request resolved to is the status answer's.
func TestStatusOfAPoolNamesIt(t *testing.T) {
	h := newHarness(t)
	h.svc.Settings.Limits.Pools = []string{"default", "gpu"}
	in := input()
	in.Pool = "gpu"
	sub, err := h.svc.Execute(context.Background(), app.ExecuteCommand{Input: in})
	if err != nil {
		t.Fatal(err)
	}
	if r := h.status(t, sub.DeliberationID); r.Pool != "gpu" {
		t.Fatalf("pool = %q, want gpu", r.Pool)
	}
}

// writeCounter counts the writes the service makes (updates that changed the entry).
type writeCounter struct {
	*fakes.Store
	writes int
}

func (w *writeCounter) UpdateFrom(ctx context.Context, known deliberation.Deliberation, change app.Change) (deliberation.Deliberation, bool, error) {
	after, won, err := w.Store.UpdateFrom(ctx, known, change)
	if won {
		w.writes++
	}
	return after, won, err
}

func (w *writeCounter) Update(ctx context.Context, id string, change app.Change) (deliberation.Deliberation, bool, error) {
	after, won, err := w.Store.Update(ctx, id, change)
	if won {
		w.writes++
	}
	return after, won, err
}

// TestPlacementCostsNoWriteOfItsOwn: the cluster rides on the step's own write, the first RUNNING
// sighting's or the completion's; only a report that changes nothing else writes it alone.
func TestPlacementCostsNoWriteOfItsOwn(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state deliberation.JobState
		want  deliberation.Status
	}{
		{"running", deliberation.JobRunning, deliberation.StatusRunning},
		{"completed", deliberation.JobSucceeded, deliberation.StatusCompleted},
	} {
		h := newHarness(t)
		placed := placements(h)
		counter := &writeCounter{Store: h.store}
		h.svc.Store = counter
		id := h.submit(t)
		res := threeAgentResult(t)
		h.ray.ResultFn = func(context.Context, string) (deliberation.Result, error) { return res, nil }
		h.rayReports(app.AttemptStatus{State: tc.state, Cluster: "ray-1", StartTime: epoch, EndTime: epoch.Add(time.Second)})
		counter.writes = 0
		if r := h.status(t, id); r.Status != tc.want || r.Cluster != "ray-1" || counter.writes != 1 || placed["ray-1"] != 1 {
			t.Errorf("%s: status %s on %q after %d writes, placements %v; want %s on ray-1 after 1 write, placed once",
				tc.name, r.Status, r.Cluster, counter.writes, placed, tc.want)
		}
	}
	// Already running elsewhere (Ray moved it): the cluster alone is written, once.
	h := newHarness(t)
	counter := &writeCounter{Store: h.store}
	h.svc.Store = counter
	id := h.submit(t)
	h.rayReports(app.AttemptStatus{State: deliberation.JobRunning, Cluster: "ray-1"})
	h.status(t, id)
	h.rayReports(app.AttemptStatus{State: deliberation.JobRunning, Cluster: "ray-2"})
	counter.writes = 0
	if r := h.status(t, id); r.Cluster != "ray-2" || counter.writes != 1 {
		t.Errorf("moved: cluster %q after %d writes, want ray-2 after 1", r.Cluster, counter.writes)
	}
	if r := h.status(t, id); r.Cluster != "ray-2" || counter.writes != 1 {
		t.Errorf("again: cluster %q after %d writes, want nothing more written", r.Cluster, counter.writes)
	}
}

// TestFinishedCountsOnceWithTheCluster: the end of a deliberation is counted once, however often
// it is polled, with the cluster of its last attempt; one cancelled before Ray named a cluster has
// none.
func TestFinishedCountsOnceWithTheCluster(t *testing.T) {
	h := newHarness(t)
	var finished []string
	h.svc.Finished = func(cluster string, status deliberation.Status) {
		finished = append(finished, cluster+":"+string(status))
	}
	id := h.submit(t)
	res := threeAgentResult(t)
	h.ray.ResultFn = func(context.Context, string) (deliberation.Result, error) { return res, nil }
	h.rayReports(app.AttemptStatus{State: deliberation.JobSucceeded, Cluster: "ray-2", StartTime: epoch, EndTime: epoch.Add(time.Second)})
	for range 3 {
		h.status(t, id)
	}
	other := h.submit(t)
	if _, err := h.svc.Cancel(context.Background(), other, "dropped"); err != nil {
		t.Fatal(err)
	}
	if want := []string{"ray-2:completed", ":cancelled"}; !slices.Equal(finished, want) {
		t.Fatalf("finished = %v, want %v", finished, want)
	}
}
