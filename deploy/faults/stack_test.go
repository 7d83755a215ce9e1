//go:build faults

package faults

import (
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/fakes/modelserver"
	"github.com/rayexecutor/functions/internal/testenv"
)

// Names the functions are configured with, so the suite reads Redis and JetStream where they write.
const (
	keyPrefix     = "rxfault"
	natsStream    = "RXFAULT"
	subjectPrefix = "rxfault"
)

// Models of the fake model server. An agent on modelOK proposes quickly and one on modelSlow
// takes a while, one on modelBroken fails every call with a transient 503 (so the job retries it,
// then gives the agent up), and one on modelStalled never answers (so the job runs into its
// deadline).
const (
	modelOK      = "m-ok"
	modelSlow    = "m-slow"
	modelBroken  = "m-broken"
	modelStalled = "m-stalled"
)

// stack is everything the functions run against, and the functions themselves.
type stack struct {
	dispatch string
	redis    *store
	nats     *testenv.NATS
	ray      *rayHead
	// rays are every head: ray alone, or ray-1 and ray-2 under FAULTS_CLUSTERS=2.
	rays   []*rayHead
	model  *modelserver.Server
	logDir string
	// callback is the status function's wake-up URL, which the runner's own limits name.
	callback string

	execute, status, stats, jobs *function
	// failovers is how long each failover the suite caused took, from the kill to a new primary.
	failovers []time.Duration
}

func startStack(t *testing.T) *stack {
	t.Helper()
	root := moduleRoot(t)
	s := &stack{dispatch: dispatch(t), logDir: keptOnFailure(t, "rxfault-logs-")}
	s.redis = startStore(t)
	s.nats = testenv.StartNATS(t)
	bins := buildFunctions(t, root)
	for i := range clusterCount(t) {
		s.rays = append(s.rays, startRayHead(t, root, i))
	}
	s.ray = s.rays[0]
	s.model = modelserver.New(t)
	s.model.SetBehavior(modelOK, modelserver.Behavior{Delay: 200 * time.Millisecond})
	s.model.SetBehavior(modelSlow, modelserver.Behavior{Delay: 15 * time.Second})
	s.model.SetBehavior(modelBroken, modelserver.Behavior{FailStatus: 503})
	s.model.SetBehavior(modelStalled, modelserver.Behavior{Stall: true})

	statusAddr := freeAddr(t)
	// The runner's own limits name the model server and the wake-up the functions use.
	s.callback = "http://" + statusAddr
	if s.dispatch == "serve" {
		for _, h := range s.rays {
			deployRunner(t, s, h)
		}
	}
	env := map[string]string{
		"REDIS_KEY_PREFIX": keyPrefix,
		"RAY_DISPATCH":     s.dispatch, "RAY_ADDRESS": s.ray.Address, "RAY_SERVE_DEPLOY": "false", "RAY_EXECUTOR_CALLBACK_URL": "http://" + statusAddr,
		"NATS_URL": s.nats.URL(), "NATS_STREAM": natsStream, "NATS_SUBJECT_PREFIX": subjectPrefix,
		"VLLM_URL_ALLOWLIST": s.model.URL(),
		// The suite measures what faults do, not admission control: a Ray outage queues many.
		"MAX_ACTIVE_DELIBERATIONS": "100000",
		"LOG_LEVEL":                "info",
	}
	maps.Copy(env, s.redis.env())
	if len(s.rays) > 1 {
		env["RAY_ADDRESS"], env["RAY_CLUSTERS"] = "", clustersSetting(s.rays)
	}
	s.status = startFunction(t, filepath.Join(bins, "get-deliberation-status"), statusAddr, s.logDir, env)
	s.execute = startFunction(t, filepath.Join(bins, "execute-deliberation"), freeAddr(t), s.logDir, env)
	s.stats = startFunction(t, filepath.Join(bins, "get-stats"), freeAddr(t), s.logDir, env)
	s.jobs = startFunction(t, filepath.Join(bins, "get-active-jobs"), freeAddr(t), s.logDir, env)
	return s
}

// keptOnFailure is a directory for the functions' logs that outlives a failed test, for a human
// to read the whole story; a passing test removes it.
func keptOnFailure(t *testing.T, pattern string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("function logs kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	return dir
}

// functions lists the running functions.
func (s *stack) functions() []*function { return []*function{s.execute, s.status, s.stats, s.jobs} }
