package natsevents

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

func completedEvent(t *testing.T, proposal string, agents int) deliberation.LifecycleEvent {
	t.Helper()
	var results []deliberation.AgentResult
	for i := range agents {
		results = append(results, deliberation.AgentResult{AgentID: string(rune('a' + i)), Proposal: proposal, Reasoning: proposal, Score: 0.5})
	}
	res, err := deliberation.NewResult(results, nil, agents, "")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	d := deliberation.Deliberation{ID: deliberation.IDFromKey("ce"), TaskID: "t", Role: "DEV", Status: deliberation.StatusCompleted,
		SubmittedAt: now, FinishedAt: now, UpdatedAt: now, Attempts: 1, SubmissionID: deliberation.IDFromKey("ce"), TotalAgents: agents, Result: &res}
	return deliberation.LifecycleEvent{Name: deliberation.EventCompleted, Deliberation: d}
}

func decode(t *testing.T, body []byte) (event.Event, app.StatusReport) {
	t.Helper()
	ev := event.New()
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	if err := ev.Validate(); err != nil {
		t.Fatal(err)
	}
	var r app.StatusReport
	if err := ev.DataAs(&r); err != nil {
		t.Fatal(err)
	}
	return ev, r
}

func TestEncodeEventWhole(t *testing.T) {
	e := completedEvent(t, "use a trie", 2)
	body, err := encodeEvent(e, "/ray-executor", 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev, r := decode(t, body)
	if ev.ID() != e.ID() || ev.Type() != deliberation.TypeCompleted || ev.Source() != "/ray-executor" ||
		ev.Subject() != e.Deliberation.ID || !ev.Time().Equal(e.Deliberation.UpdatedAt) || ev.DataContentType() != event.ApplicationJSON {
		t.Fatalf("event attributes = %s", ev)
	}
	if _, ok := ev.Extensions()[TruncatedExtension]; ok {
		t.Fatal("a whole event says it was truncated")
	}
	if r.Status != deliberation.StatusCompleted || r.Result == nil || r.Result.AgentResults[1].Proposal != "use a trie" {
		t.Fatalf("data = %+v", r)
	}
}

// TestEncodeEventTruncatesProposals: an event over the limit keeps every agent with a cut,
// marked proposal and reasoning, fits the limit, and leaves the stored entry's result alone.
func TestEncodeEventTruncatesProposals(t *testing.T) {
	long := strings.Repeat("é", 10_000) // two bytes a character: cuts must fall between them
	e := completedEvent(t, long, 3)
	const limit = 8 << 10
	body, err := encodeEvent(e, "/ray-executor", limit, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > limit {
		t.Fatalf("event is %d bytes, over %d", len(body), limit)
	}
	ev, r := decode(t, body)
	if v, err := ev.Context.GetExtension(TruncatedExtension); err != nil || v != true {
		t.Fatalf("truncated extension = %v, %v", v, err)
	}
	if r.Result == nil || len(r.Result.AgentResults) != 3 || r.Result.BestResult == nil {
		t.Fatalf("result = %+v, want every agent kept", r.Result)
	}
	for _, a := range append(r.Result.AgentResults, *r.Result.BestResult) {
		for _, text := range []string{a.Proposal, a.Reasoning} {
			kept, marker, ok := strings.Cut(text, "… [truncated: ")
			if !ok || !strings.HasPrefix(long, kept) || len(kept) < minKept || !utf8.ValidString(text) ||
				!strings.HasSuffix(marker, "of 20000 bytes kept; the status API has the whole text]") {
				t.Fatalf("truncated text = %.80q…%q", text, marker)
			}
		}
	}
	if e.Deliberation.Result.AgentResults[0].Proposal != long || e.Deliberation.Result.BestResult.Proposal != long {
		t.Fatal("truncation changed the stored entry's result")
	}
}

func TestEncodeEventDropsTheResultLast(t *testing.T) {
	e := completedEvent(t, strings.Repeat("x", 4000), 16)
	body, err := encodeEvent(e, "/ray-executor", 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev, r := decode(t, body)
	if v, _ := ev.Context.GetExtension(TruncatedExtension); v != true || r.Result != nil || r.Status != deliberation.StatusCompleted {
		t.Fatalf("event %s with data %+v, want the result left out and said so", ev, r)
	}
	if _, err := encodeEvent(e, "/ray-executor", 100, nil); err == nil {
		t.Fatal("an event that cannot fit was encoded")
	}
}

// TestEventNamesClusterAndPool: an event's data says where the deliberation runs, as the status
// answer does.
func TestEventNamesClusterAndPool(t *testing.T) {
	e := completedEvent(t, "p", 1)
	e.Deliberation.Status, e.Deliberation.Result, e.Name = deliberation.StatusRunning, nil, deliberation.EventStarted
	e.Deliberation.Cluster, e.Deliberation.Pool = "ray-2", "gpu"
	body, err := encodeEvent(e, "/ray-executor", 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, r := decode(t, body); r.Cluster != "ray-2" || r.Pool != "gpu" {
		t.Errorf("data = %+v, want cluster ray-2 and pool gpu", r)
	}
	e.Deliberation.Cluster, e.Deliberation.Pool = "", ""
	body, _ = encodeEvent(e, "/ray-executor", 1<<20, nil)
	if _, r := decode(t, body); r.Cluster != "" || r.Pool != deliberation.DefaultPool || strings.Contains(string(body), `"cluster"`) {
		t.Errorf("data = %s, want no cluster and the default pool", body)
	}
}
