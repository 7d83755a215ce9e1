// Package storetest is the contract suite of app.StateStore: every adapter (the in-memory fake,
// Redis through miniredis, a real redis-server) runs the same tests, including a parallel race that
// checks the invariants of the spec at every read.
package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// Epoch is the time the suite's deliberations are submitted at.
var Epoch = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// fixtureLimits admit the fixtures' model server.
var fixtureLimits = deliberation.Limits{Allowlist: deliberation.AllowAny(nil)}

// Request returns a valid request for task; it fails the test otherwise.
func Request(t testing.TB, task string) deliberation.Request {
	t.Helper()
	req, err := deliberation.NewRequest(requestInput(task), fixtureLimits)
	if err != nil {
		t.Fatalf("fixture request: %v", err)
	}
	return req
}

func requestInput(task string) deliberation.RequestInput {
	return deliberation.RequestInput{
		TaskID: task, TaskDescription: "write a parser", Role: "DEV",
		Constraints: deliberation.ConstraintsInput{StoryID: "story-1"},
		Agents: []deliberation.AgentConfig{
			{AgentID: "a1", Role: "DEV", Model: "m1"},
			{AgentID: "a2", Role: "QA", Model: "m2"},
		},
		VLLMURL: "http://127.0.0.1:8000", VLLMModel: "judge",
	}
}

// Entry returns a new entry for req submitted at Epoch+offset.
func Entry(id string, req deliberation.Request, offset time.Duration) deliberation.Deliberation {
	return deliberation.New(id, req, Epoch.Add(offset))
}

// Result returns a valid result of two agents, the second one best.
func Result(t testing.TB) deliberation.Result {
	t.Helper()
	r, err := deliberation.NewResult([]deliberation.AgentResult{
		{AgentID: "a1", Proposal: "p1", Score: 0.4},
		{AgentID: "a2", Proposal: "p2", Score: 0.9},
	}, nil, 2, "")
	if err != nil {
		t.Fatalf("fixture result: %v", err)
	}
	return r
}

// LargeResult returns the result of three agents with proposals of about 2 KiB each, the size of
// an LLM answer of a few hundred words: the finished entry a status request typically reads.
func LargeResult(t testing.TB) deliberation.Result {
	t.Helper()
	agents := make([]deliberation.AgentResult, 3)
	for i := range agents {
		agents[i] = deliberation.AgentResult{AgentID: fmt.Sprintf("a%d", i+1),
			Proposal:  strings.Repeat("Keep a write-through cache per user. ", 56),
			Reasoning: strings.Repeat("Reads dominate writes. ", 12), Score: 0.5 + float64(i)/10,
			Metadata: map[string]string{"model": "m", "tokens": "512"}}
	}
	r, err := deliberation.NewResult(agents, nil, 3, "")
	if err != nil {
		t.Fatalf("fixture result: %v", err)
	}
	return r
}
