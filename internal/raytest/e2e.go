package raytest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/rayexecutor/functions/internal/fakes/modelserver"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// RealAddress is the dashboard of the real Ray head a test may use (RAY_TEST_ADDRESS, which
// deploy/local/with-ray-head.sh exports). Without it the test is skipped, except under CI=true,
// where a missing head fails it.
func RealAddress(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("RAY_TEST_ADDRESS")
	if addr == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("RAY_TEST_ADDRESS is not set: CI needs a real Ray head (deploy/local/with-ray-head.sh)")
		}
		t.Skip("RAY_TEST_ADDRESS is not set: no real Ray head to test against")
	}
	return addr
}

// UniqueID is an id no earlier run used: a real Ray keeps jobs until they are deleted.
func UniqueID(name string) string {
	return "rxtest-" + rand.Text()[:10] + "-" + name
}

// OpenLimits admit any model server but the special hosts (the fake model servers listen on
// 127.0.0.1); the attempts get the same policy.
var OpenLimits = deliberation.Limits{Allowlist: deliberation.AllowAny(nil)}

// Braces is a prompt template whose braces are not all placeholders.
const Braces = `Solve {task} as {role} (task {task_id}, story {story_id}): def f(): return {"a": 1} {not_a_token}`

// EmbeddedNATS starts a JetStream server in the test's process and returns its URL.
func EmbeddedNATS(t testing.TB) string {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("embedded nats-server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

// Flow is the execute-to-terminal path of an end-to-end test: the use cases on a real Redis and a
// Ray adapter on the real head, and the fake model server the attempts call. Both adapters' tests
// drive it the same way.
type Flow struct {
	Svc   *app.Service
	Model *modelserver.Server
}

// Input is a deliberation of agents on the fake model server, judged there too.
func (f *Flow) Input(timeout, retries int, agents ...deliberation.AgentConfig) deliberation.RequestInput {
	return deliberation.RequestInput{
		TaskID: "ceremony-1:story-1:role-DEV", TaskDescription: "Write a rate limiter", Role: "DEV",
		Constraints: deliberation.ConstraintsInput{StoryID: "story-1", TimeoutSeconds: &timeout, MaxRetries: &retries},
		Agents:      agents, VLLMURL: f.Model.URL(), VLLMModel: "judge-model",
	}
}

// PollUntilTerminal polls status from several goroutines at once, as many callers would.
func (f *Flow) PollUntilTerminal(t testing.TB, id string, within time.Duration) app.StatusReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var final app.StatusReport
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				r, err := f.Svc.Status(ctx, id)
				if err == nil && r.Status.Terminal() {
					once.Do(func() { final = r; cancel() })
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	if !final.Status.Terminal() {
		t.Fatalf("deliberation %s not terminal within %v", id, within)
	}
	return final
}

// WantStats checks the counters.
func (f *Flow) WantStats(t testing.TB, total, active, completed, failed, cancelled int64) {
	t.Helper()
	r, err := f.Svc.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := r.Stats
	if s.TotalDeliberations != total || s.ActiveDeliberations != active || s.CompletedDeliberations != completed ||
		s.FailedDeliberations != failed || s.CancelledDeliberations != cancelled {
		t.Fatalf("stats = %+v; want total %d active %d completed %d failed %d cancelled %d", s, total, active, completed, failed, cancelled)
	}
}

// CancelWhenRunning waits until id runs and its agent's model has been called, then cancels it:
// the cancel is recorded and answers cancelled.
func (f *Flow) CancelWhenRunning(t testing.TB, id, model string, within time.Duration) app.StatusReport {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(within); ; time.Sleep(100 * time.Millisecond) {
		r, err := f.Svc.Status(ctx, id)
		if err == nil && r.Status.Terminal() {
			t.Fatalf("deliberation %s ended %s before the cancel", id, r.Status)
		}
		if err == nil && r.Status == deliberation.StatusRunning && len(f.Model.RequestsFor(model)) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliberation %s not running within %v (last %+v, %v)", id, within, r, err)
		}
	}
	res, err := f.Svc.Cancel(ctx, id, "story dropped")
	if err != nil || res.Outcome != app.CancelRecorded || res.Report.Status != deliberation.StatusCancelled {
		t.Fatalf("Cancel = %+v, %v; want recorded and cancelled", res, err)
	}
	return res.Report
}

// WantStaysCancelled polls the status (which also runs the checks a poll triggers) for a while:
// whatever Ray reports after the cancel changes nothing, and the cancel is counted once.
func (f *Flow) WantStaysCancelled(t testing.TB, id string, span time.Duration) {
	t.Helper()
	for end := time.Now().Add(span); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		r, err := f.Svc.Status(context.Background(), id)
		if err != nil || r.Status != deliberation.StatusCancelled || r.Reason != "story dropped" || r.CancelledAt == nil {
			t.Fatalf("status after the cancel = %+v, %v; want cancelled with its reason", r, err)
		}
	}
	f.WantStats(t, 1, 0, 0, 0, 1)
}

// AllAgentsFail runs a deliberation none of whose agents proposes anything, submitted with
// execute: it fails with both agents' errors kept, counted once. It returns its id.
func (f *Flow) AllAgentsFail(t testing.TB, execute func(testing.TB, deliberation.RequestInput) string, within time.Duration) string {
	t.Helper()
	f.Model.SetBehavior("m-x", modelserver.Behavior{FailStatus: 500})
	f.Model.SetBehavior("m-y", modelserver.Behavior{FailStatus: 400})
	id := execute(t, f.Input(120, 0,
		deliberation.AgentConfig{AgentID: "a1", Role: "DEV", Model: "m-x"},
		deliberation.AgentConfig{AgentID: "a2", Role: "QA", Model: "m-y"},
	))
	r := f.PollUntilTerminal(t, id, within)
	if r.Status != deliberation.StatusFailed || r.Result == nil || len(r.Result.Failures) != 2 || r.Result.CompletedAgents != 0 {
		t.Fatalf("report = %+v, want failed with both agents' errors kept", r)
	}
	if !strings.Contains(r.ErrorMessage, "a1:") || !strings.Contains(r.ErrorMessage, "a2:") {
		t.Fatalf("error message %q does not name the agents", r.ErrorMessage)
	}
	f.WantStats(t, 1, 0, 0, 1, 0)
	return id
}

// CheckModelRequests asserts the request bodies of docs/ray.md as the fake model server received
// them, for the deliberation of agents m-dev (templated with Braces), m-broken (tried twice) and
// m-arch.
func CheckModelRequests(t testing.TB, m *modelserver.Server) {
	t.Helper()
	systems := map[string]string{"m-dev": "software developer", "m-broken": "QA engineer", "m-arch": "software architect"}
	for model, want := range systems {
		reqs := m.RequestsFor(model)
		if len(reqs) == 0 {
			t.Fatalf("no request for model %s", model)
		}
		for _, r := range reqs {
			if r.IsJudge() || !strings.Contains(r.Message("system"), want) || r.Temperature == nil || *r.Temperature != 0.7 ||
				r.MaxTokens == nil || *r.MaxTokens != 2048 {
				t.Fatalf("request for %s: system %q, temperature %v, max_tokens %v", model, r.Message("system"), r.Temperature, r.MaxTokens)
			}
		}
	}
	if n := len(m.RequestsFor("m-broken")); n != 2 {
		t.Fatalf("the failing agent was tried %d times, want 1 + max_retries = 2", n)
	}
	wantUser := `Solve Write a rate limiter as DEV (task ceremony-1:story-1:role-DEV, story story-1): def f(): return {"a": 1} {not_a_token}`
	if got := m.RequestsFor("m-dev")[0].Message("user"); got != wantUser {
		t.Fatalf("templated prompt = %q, want %q", got, wantUser)
	}
	judges := m.JudgeRequests()
	if len(judges) != 1 || judges[0].Model != "judge-model" {
		t.Fatalf("judge calls = %d, want one to judge-model", len(judges))
	}
	var format struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(judges[0].ResponseFormat, &format); err != nil || format.Type != "json_schema" {
		t.Fatalf("judge response_format = %s, want a json_schema", judges[0].ResponseFormat)
	}
	if ids := judges[0].JudgeAgentIDs(); len(ids) != 2 {
		t.Fatalf("judge scored %v, want the two proposals", ids)
	}
}
