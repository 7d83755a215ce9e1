package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/fakes"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

var epoch = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

type harness struct {
	svc    *app.Service
	store  *fakes.Store
	ray    *fakes.Ray
	events *fakes.Events
	clock  *fakes.Clock
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	store := fakes.NewStoreWithOutbox()
	h := &harness{store: store, ray: &fakes.Ray{}, events: fakes.NewEvents(store), clock: fakes.NewClock(epoch)}
	settings := app.DefaultSettings()
	settings.CheckPeriod = 0
	settings.Limits.Allowlist = deliberation.AllowAny(nil)
	h.svc = &app.Service{Store: h.store, Ray: h.ray, Events: h.events, Clock: h.clock, IDs: &fakes.IDs{},
		Settings: settings, Log: app.NewService(nil, nil, nil, settings, nil).Log}
	return h
}

func input() deliberation.RequestInput {
	return deliberation.RequestInput{
		TaskID: "task-1", TaskDescription: "Implement the cache", Role: "DEV",
		Constraints: deliberation.ConstraintsInput{StoryID: "story-1"},
		Agents: []deliberation.AgentConfig{
			{AgentID: "a1", Role: "DEV", Model: "m1"},
			{AgentID: "a2", Role: "QA", Model: "m2"},
			{AgentID: "a3", Role: "ARCHITECT", Model: "m3"},
		},
		VLLMURL: "http://127.0.0.1:8000", VLLMModel: "judge",
	}
}

// submit executes a valid request and returns its id.
func (h *harness) submit(t *testing.T) string {
	t.Helper()
	sub, err := h.svc.Execute(context.Background(), app.ExecuteCommand{Input: input()})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if err := h.svc.Wait(context.Background()); err != nil { // Ray's acceptance is recorded after the answer
		t.Fatal(err)
	}
	return sub.DeliberationID
}

func (h *harness) status(t *testing.T, id string) app.StatusReport {
	t.Helper()
	r, err := h.svc.Status(context.Background(), id)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	return r
}

func (h *harness) stats(t *testing.T) deliberation.ExecutionStats {
	t.Helper()
	r, err := h.svc.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return r.Stats
}

func (h *harness) rayReports(st app.AttemptStatus) {
	h.ray.StatusFn = func(context.Context, string) (app.AttemptStatus, error) { return st, nil }
}

func threeAgentResult(t *testing.T) deliberation.Result {
	t.Helper()
	r, err := deliberation.NewResult([]deliberation.AgentResult{
		{AgentID: "a1", Proposal: "p1", Score: 0.6},
		{AgentID: "a3", Proposal: "p3", Score: 0.8},
	}, []deliberation.AgentFailure{{AgentID: "a2", Error: "model server answered 503 after 4 attempts"}}, 3, "")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func wantStats(t *testing.T, got deliberation.ExecutionStats, total, active, completed, failed int64) {
	t.Helper()
	if got.TotalDeliberations != total || got.ActiveDeliberations != active || got.CompletedDeliberations != completed || got.FailedDeliberations != failed {
		t.Fatalf("stats = %+v; want total %d active %d completed %d failed %d", got, total, active, completed, failed)
	}
}
