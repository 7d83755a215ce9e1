package rpc

import (
	"errors"
	"testing"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
	executorv1 "github.com/rayexecutor/functions/shared/proto/fleet/ray_executor/v1"
)

// The added fields carry what the JSON routes carry: the pool a request names, the cluster and
// pool of a deliberation, the cluster of an active job.
func TestClusterAndPoolOnTheWire(t *testing.T) {
	in := executeInput(&executorv1.ExecuteDeliberationRequest{Pool: "gpu"})
	back := backlogReviewInput(&executorv1.ExecuteBacklogReviewDeliberationRequest{Pool: "cpu"})
	if in.Pool != "gpu" || back.Pool != "cpu" {
		t.Errorf("request pools = %q, %q; want gpu, cpu", in.Pool, back.Pool)
	}
	m := statusMessage(app.StatusReport{Status: deliberation.StatusRunning, Cluster: "ray-2", Pool: "gpu"})
	if m.GetCluster() != "ray-2" || m.GetPool() != "gpu" {
		t.Errorf("status message = %v", m)
	}
	page := jobsMessage(app.JobsPage{Jobs: []deliberation.JobInfo{{JobID: "j", Cluster: "ray-1"}, {JobID: "k"}}})
	if page.Jobs[0].GetCluster() != "ray-1" || page.Jobs[1].GetCluster() != "" {
		t.Errorf("jobs = %v", page.Jobs)
	}
}

// An unserved pool is INVALID_ARGUMENT's field violation on `pool`, as the JSON route's problem.
func TestUnservedPoolIsAFieldViolation(t *testing.T) {
	in := executeInput(&executorv1.ExecuteDeliberationRequest{TaskId: "t", TaskDescription: "d", Role: "DEV",
		Constraints: &executorv1.TaskConstraints{StoryId: "s"}, Agents: []*executorv1.Agent{{Id: "a1", Role: "DEV", Model: "m"}}, VllmUrl: "http://127.0.0.1:8000", VllmModel: "m", Pool: "tpu"})
	_, err := deliberation.NewRequest(in, deliberation.Limits{Allowlist: deliberation.AllowAny(nil), Pools: []string{"default"}})
	var e *deliberation.Error
	if !errors.As(err, &e) || len(e.Fields) != 1 || rpcViolation(e.Fields[0]).Field != "pool" {
		t.Fatalf("error = %v, want one violation on pool", err)
	}
}
