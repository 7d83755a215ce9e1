// Package raycontract is the contract of the app.RayCluster port: one suite every adapter runs
// (the runner's queue on miniredis and a real redis-server, the Ray Jobs adapter on the fake Jobs
// API and a real Ray head), so that the use cases and the reconcile sweep get the same answers
// whichever way a deliberation runs.
package raycontract

import (
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// Harness is one adapter under test and the means to move its attempts as the Ray side would.
type Harness struct {
	// New returns a fresh port: what one port submits, no other port's List shows (as two
	// deployments sharing a cluster), so the cases may run in parallel.
	New func(t *testing.T) Adapter
	// Real is true on a real Ray head: an attempt starts on its own, so where the contract
	// expects one still queued it accepts one already running.
	Real bool
	// Within bounds how long an attempt may take to get where a case waits for it.
	Within time.Duration
}

// Adapter is a port and its drivers.
type Adapter struct {
	Port app.RayCluster
	// Start moves a submitted attempt of d to RUNNING, or waits until it is.
	Start func(t *testing.T, d deliberation.Deliberation)
	// Finish ends a running attempt of d: SUCCEEDED with ResultJSON as its result, or FAILED in
	// the deliberation's own code. It returns once Delete may remove the attempt.
	Finish func(t *testing.T, d deliberation.Deliberation, succeeded bool)
}

// ResultJSON is the result a succeeded attempt of the contract's deliberations produces, in the
// job's result contract: a1 proposed, a2 failed.
const ResultJSON = `{"agent_results":[{"agent_id":"a1","proposal":"p1","reasoning":"r1","score":0.9}],` +
	`"failures":[{"agent_id":"a2","error":"model server answered 503"}],` +
	`"total_agents":2,"completed_agents":1,"failed_agents":1,"scoring_error":""}`

// Limits admit any model server but the special hosts, as the end-to-end tests' do.
var Limits = raytest.OpenLimits

// Deliberation is a validated request of two agents (a1, a2) and its deliberation, submitted now.
func Deliberation(t testing.TB) (deliberation.Deliberation, deliberation.Request) {
	t.Helper()
	timeout := 120
	req, err := deliberation.NewRequest(deliberation.RequestInput{
		TaskID: "ceremony-1:story-1:task-1", TaskDescription: "Write a {task} parser", Role: "DEV",
		Constraints: deliberation.ConstraintsInput{StoryID: "story-1", TimeoutSeconds: &timeout,
			Metadata: map[string]string{"sprint": "7"}},
		Agents:  []deliberation.AgentConfig{{AgentID: "a1", Role: "DEV", Model: "m1"}, {AgentID: "a2", Role: "QA", Model: "m2"}},
		VLLMURL: "http://vllm:8000", VLLMModel: "judge",
	}, Limits)
	if err != nil {
		t.Fatal(err)
	}
	return deliberation.New(deliberation.NewID(), req, time.Now().UTC()), req
}
