package runnerqueue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/internal/fakes/modelserver"
	"github.com/rayexecutor/functions/internal/launcher"
	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/natsevents"
	rayjob "github.com/rayexecutor/functions/shared/rayjob"
	"github.com/rayexecutor/functions/shared/rayserve"
	"github.com/rayexecutor/functions/shared/redisstore"
	"github.com/rayexecutor/functions/shared/runnerqueue"
)

// The serve-mode tests share one runner on the tests' Ray head: Serve's config is one document
// per cluster, and a runner replica takes seconds to start. It reads one Redis, which every test
// shares under a store prefix of its own; the queue's prefix is the runner's.
const runnerPrefix = "serve-e2e"

// e2eCluster is the name the runner on the head is deployed with (its arg cluster).
const e2eCluster = "ray-e2e"

var runnerFixture struct {
	once   sync.Once
	url    string
	addr   string
	redis  *launcher.Process
	unlock func()
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if f := &runnerFixture; f.redis != nil {
		c, err := rayserve.NewClient(f.addr, "", 30*time.Second)
		if err == nil {
			_ = c.DeleteAll(context.Background())
		}
		f.redis.Stop(time.Second)
	}
	if f := &runnerFixture; f.unlock != nil {
		f.unlock()
	}
	os.Exit(code)
}

// sharedRunner starts the runner's Redis and deploys the runner on the head, once.
func sharedRunner(t *testing.T) string {
	t.Helper()
	addr := realRayAddress(t)
	bin := testenv.Require(t, "redis-server")
	f := &runnerFixture
	f.once.Do(func() {
		f.addr = addr
		// Other packages deploy on the same head (shared/wiring's test): the runner stays ours
		// until TestMain ends.
		if f.unlock, f.err = raytest.LockServe(addr); f.err != nil {
			return
		}
		port, err := testenv.LoopbackPort()
		if err != nil {
			f.err = err
			return
		}
		hostPort := "127.0.0.1:" + strconv.Itoa(port)
		f.redis, f.err = launcher.Start(launcher.Command{Path: bin, Name: "runner redis-server",
			Args: []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}})
		if f.err != nil {
			return
		}
		if f.err = testenv.WaitRedis(hostPort, 10*time.Second); f.err != nil {
			return
		}
		f.url = "redis://" + hostPort
		client, err := rayserve.NewClient(addr, "", 30*time.Second)
		if err != nil {
			f.err = err
			return
		}
		name, zip, err := rayjob.Package()
		if err != nil {
			f.err = err
			return
		}
		start := time.Now()
		f.err = client.DeployRunner(context.Background(), rayserve.RunnerApplication{ImportPath: rayjob.RunnerImportPath,
			// The runner's own list is "*" as the queue's policy (openLimits): the fakes are on loopback.
			Args: map[string]any{"redis_url": f.url, "key_prefix": runnerPrefix, "claim_idle_s": 5, "heartbeat_s": 1,
				"allowed_origins": []string{"*"}}, Cluster: e2eCluster, Pools: []string{"default", "gpu"}},
			name, zip, 3*time.Minute)
		fmt.Fprintf(os.Stderr, "serve e2e: runner deployed in %s (err %v)\n", time.Since(start).Round(time.Millisecond), f.err)
	})
	if f.err != nil {
		t.Fatalf("deliberation runner: %v", f.err)
	}
	return f.url
}

// serveE2E is the execute-to-terminal path in serve mode: the use cases on a real redis-server,
// the runner port enqueueing for the real runner on the head, the fake model server.
type serveE2E struct {
	raytest.Flow
	rdb    *redis.Client
	runner *runnerqueue.Queue
	events *eventRecorder
}

func newServeE2E(t *testing.T) *serveE2E {
	t.Helper()
	url := sharedRunner(t)
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	runner, err := runnerqueue.New(rdb, runnerqueue.Config{Prefix: runnerPrefix, Policy: openLimits.JobPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	settings := app.DefaultSettings()
	settings.Limits = openLimits
	settings.CheckPeriod = 100 * time.Millisecond
	settings.DeadlineGrace = time.Second
	store := redisstore.New(rdb, redisstore.Options{Prefix: uniqueID("serve"), Outbox: true})
	natsURL := raytest.EmbeddedNATS(t)
	events, err := natsevents.New(natsevents.Options{URL: natsURL, PublishTimeout: time.Second}, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = events.Close(context.Background()) })
	return &serveE2E{Flow: raytest.Flow{Svc: app.NewService(store, runner, events, settings, nil), Model: modelserver.New(t)},
		rdb: rdb, runner: runner, events: recordEvents(t, natsURL)}
}

// eventRecorder keeps the types of the lifecycle events published, by deliberation, as an
// independent subscriber sees them.
type eventRecorder struct {
	mu   sync.Mutex
	seen map[string][]string
}

func recordEvents(t *testing.T, url string) *eventRecorder {
	t.Helper()
	r := &eventRecorder{seen: map[string][]string{}}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if _, err := nc.Subscribe("ray-executor.deliberation.>", func(m *nats.Msg) {
		var ev struct {
			Type string           `json:"type"`
			Data app.StatusReport `json:"data"`
		}
		if json.Unmarshal(m.Data, &ev) == nil {
			r.mu.Lock()
			r.seen[ev.Data.DeliberationID] = append(r.seen[ev.Data.DeliberationID], ev.Type)
			r.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	return r
}

// want waits until id's events are types, in order, each once.
func (r *eventRecorder) want(t *testing.T, id string, types ...string) {
	t.Helper()
	r.wantOneOf(t, id, types)
}

// wantOneOf waits until id's events are one of the sequences, and checks that no more come.
func (r *eventRecorder) wantOneOf(t *testing.T, id string, sequences ...[]string) {
	t.Helper()
	var got []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		r.mu.Lock()
		got = slices.Clone(r.seen[id])
		r.mu.Unlock()
		if slices.ContainsFunc(sequences, func(want []string) bool { return slices.Equal(got, want) }) {
			time.Sleep(200 * time.Millisecond)
			r.mu.Lock()
			defer r.mu.Unlock()
			if !slices.Equal(r.seen[id], got) {
				t.Fatalf("events of %s went on after the terminal one: %v", id, r.seen[id])
			}
			return
		}
	}
	t.Fatalf("events of %s = %v, want one of %v", id, got, sequences)
}

func (e *serveE2E) execute(t testing.TB, in deliberation.RequestInput) string {
	t.Helper()
	sub, err := e.Svc.Execute(context.Background(), app.ExecuteCommand{Input: in})
	if err != nil || sub.Status != deliberation.StatusSubmitted || sub.Message != app.MessageSubmitted {
		t.Fatalf("Execute = %+v, %v", sub, err)
	}
	return sub.DeliberationID
}

// wantAttemptGone checks the outcome's cleanup: the attempt's keys are deleted once it is stored.
// The poller that stored the outcome deletes them right after, within DeleteTimeout; on a loaded
// machine that delete may time out or lose a race, and the reconcile pass's sweep is the promised
// second path. So the check waits for the first, then runs one pass, and only then fails.
func (e *serveE2E) wantAttemptGone(t *testing.T, id string) {
	t.Helper()
	k := runnerqueue.NewKeys(runnerPrefix)
	keys := []string{k.Attempt(id), k.Result(id)}
	gone := func(wait time.Duration) (int64, error) {
		var n int64
		var err error
		for deadline := time.Now().Add(wait); ; time.Sleep(20 * time.Millisecond) {
			n, err = e.rdb.Exists(context.Background(), keys...).Result()
			if (err == nil && n == 0) || time.Now().After(deadline) {
				return n, err
			}
		}
	}
	if n, err := gone(10 * time.Second); err == nil && n == 0 {
		return
	}
	t.Logf("attempt %s outlived the cleanup after storing; running a reconcile pass", id)
	if _, err := e.Svc.Reconcile(context.Background()); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if n, err := gone(5 * time.Second); err != nil || n != 0 {
		t.Fatalf("%d keys of attempt %s remain after the cleanup and a reconcile pass (%v)", n, id, err)
	}
}

func TestServeEndToEndOneAgentAlwaysFails(t *testing.T) {
	t.Parallel()
	e := newServeE2E(t)
	e.Model.SetBehavior("m-broken", modelserver.Behavior{FailStatus: 503})
	started := time.Now()
	id := e.execute(t, e.Input(120, 1,
		deliberation.AgentConfig{AgentID: "dev-1", Role: "DEV", Model: "m-dev", PromptTemplate: raytest.Braces},
		deliberation.AgentConfig{AgentID: "qa-1", Role: "QA", Model: "m-broken"},
		deliberation.AgentConfig{AgentID: "arch-1", Role: "ARCHITECT", Model: "m-arch"},
	))
	r := e.PollUntilTerminal(t, id, 60*time.Second)
	t.Logf("submit to %s in %s", r.Status, time.Since(started).Round(time.Millisecond))
	res := r.Result
	if r.Status != deliberation.StatusCompleted || res == nil || res.CompletedAgents != 2 || res.TotalAgents != 3 {
		t.Fatalf("report = %+v, want completed with 2 of 3 agents", r)
	}
	if len(res.Failures) != 1 || res.Failures[0].AgentID != "qa-1" || !strings.Contains(res.Failures[0].Error, "503") {
		t.Fatalf("failures = %+v, want qa-1 with its 503", res.Failures)
	}
	if res.BestResult == nil || res.ScoringError != "" || r.ExecutionTimeMS < 0 || r.Attempts != 1 || r.FinishedAt == nil {
		t.Fatalf("report = %+v, want a judged best result, the runner's run time and one attempt", r)
	}
	e.WantStats(t, 1, 0, 1, 0, 0)
	raytest.CheckModelRequests(t, e.Model)
	e.wantAttemptGone(t, id)
	e.events.want(t, id, deliberation.TypeSubmitted, deliberation.TypeStarted, deliberation.TypeCompleted)
}

func TestServeEndToEndAllAgentsFail(t *testing.T) {
	t.Parallel()
	e := newServeE2E(t)
	id := e.AllAgentsFail(t, e.execute, 60*time.Second)
	// A poll may see the attempt running, or only its record: started is then never published.
	e.events.wantOneOf(t, id, []string{deliberation.TypeSubmitted, deliberation.TypeStarted, deliberation.TypeFailed},
		[]string{deliberation.TypeSubmitted, deliberation.TypeFailed})
}

// TestServeEndToEndDeadline: an agent that outlives the deadline fails as timed out, and the
// result is in before the deadline.
func TestServeEndToEndDeadline(t *testing.T) {
	t.Parallel()
	e := newServeE2E(t)
	e.Model.SetBehavior("m-stuck", modelserver.Behavior{Delay: time.Minute})
	started := time.Now()
	id := e.execute(t, e.Input(4, 0, deliberation.AgentConfig{AgentID: "a1", Role: "DEV", Model: "m-stuck"}))
	r := e.PollUntilTerminal(t, id, 30*time.Second)
	if r.Status != deliberation.StatusFailed || r.Result == nil || !strings.Contains(r.Result.Failures[0].Error, "timed out") {
		t.Fatalf("report = %+v, want failed by the deadline", r)
	}
	if took := r.FinishedAt.Sub(started); took > 5*time.Second {
		t.Fatalf("finished %s after submit, past the 4 s deadline", took)
	}
	e.WantStats(t, 1, 0, 0, 1, 0)
}

// TestServeEndToEndOneEnqueue: twenty identical requests at once (the same idempotency key, as a
// Broker's redeliveries of one CloudEvent carry) make one deliberation, run once.
func TestServeEndToEndOneEnqueue(t *testing.T) {
	t.Parallel()
	e := newServeE2E(t)
	in := e.Input(60, 0, deliberation.AgentConfig{AgentID: "a1", Role: "DEV", Model: "m1"})
	ids := make([]string, 20)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			sub, err := e.Svc.Execute(context.Background(), app.ExecuteCommand{Input: in, IdempotencyKey: "cloudevent:one"})
			if err != nil {
				t.Error(err)
			}
			ids[i] = sub.DeliberationID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("ids %v differ", ids)
		}
	}
	if r := e.PollUntilTerminal(t, ids[0], 60*time.Second); r.Status != deliberation.StatusCompleted {
		t.Fatalf("report = %+v", r)
	}
	time.Sleep(time.Second) // a second run, if any, would have called the model by now
	if n := len(e.Model.RequestsFor("m1")); n != 1 {
		t.Fatalf("the agent's model was called %d times, want once", n)
	}
	e.WantStats(t, 1, 0, 1, 0, 0)
}

// TestServeEndToEndPoolAndCluster: an attempt of pool gpu, enqueued on that pool's stream, is run
// by the runner on the head (deployed serving default and gpu), whose Status names its cluster,
// as the real runner wrote it into the marker and the record.
func TestServeEndToEndPoolAndCluster(t *testing.T) {
	t.Parallel()
	e := newServeE2E(t)
	ctx := context.Background()
	lim := openLimits
	lim.Pools = []string{"default", "gpu"}
	req, err := deliberation.NewRequest(e.Input(60, 0, deliberation.AgentConfig{AgentID: "a1", Role: "DEV", Model: "m1"}), lim)
	if err != nil {
		t.Fatal(err)
	}
	req.Pool = "gpu"
	d := deliberation.New(deliberation.NewID(), req, time.Now().UTC())
	if err := e.runner.Submit(ctx, d, req); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		st, err := e.runner.Status(ctx, d.SubmissionID)
		if err == nil && st.State.Terminal() {
			if st.State != deliberation.JobSucceeded || st.Cluster != e2eCluster {
				t.Fatalf("status %+v, want SUCCEEDED on %s", st, e2eCluster)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("attempt of pool gpu not run within 60 s: %+v, %v", st, err)
		}
	}
	if n, err := runnerqueue.QueueLength(ctx, e.rdb, runnerqueue.NewKeys(runnerPrefix), "gpu"); err != nil || n != 0 {
		t.Errorf("the gpu streams hold %d entries (%v) once it ran", n, err)
	}
}

// TestServeEndToEndCancelWhileRunning: a running deliberation's agent tasks are cancelled: its
// agent, which fails slowly and would be retried, calls the model no more once the cancel settles.
func TestServeEndToEndCancelWhileRunning(t *testing.T) {
	t.Parallel()
	e := newServeE2E(t)
	e.Model.SetBehavior("m-flaky", modelserver.Behavior{Delay: 2 * time.Second, FailStatus: 503})
	id := e.execute(t, e.Input(120, 10, deliberation.AgentConfig{AgentID: "a1", Role: "DEV", Model: "m-flaky"}))
	e.CancelWhenRunning(t, id, "m-flaky", 60*time.Second)
	time.Sleep(time.Second) // the runner sees the attempt stopped and cancels its tasks
	before := len(e.Model.Requests())
	// Uncancelled, the agent's call in flight fails within 2 s and is retried within 0.5 s more.
	e.WantStaysCancelled(t, id, 4*time.Second)
	if after := len(e.Model.Requests()); after != before {
		t.Fatalf("the model server got %d calls after the cancel settled (%d before)", after-before, before)
	}
	if len(e.Model.JudgeRequests()) != 0 {
		t.Fatal("the judge was called for a cancelled deliberation")
	}
	e.events.want(t, id, deliberation.TypeSubmitted, deliberation.TypeStarted, deliberation.TypeCancelled)
}
