package rayjobs

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// FuzzResultAmidOutput hides the result line a job printed among arbitrary output before and
// after it, as Ray interleaves the driver's output with forwarded worker lines: the parser reads
// exactly the result that line holds, whatever the other lines say, unless a later line starts
// with the prefix itself (then that line is the last result line, by definition).
func FuzzResultAmidOutput(f *testing.F) {
	f.Add("Running entrypoint for job delib-x\n(run_agent pid=7) "+ResultPrefix+"{}", "wake-up sent\r\n",
		"agent-0", "a proposal", "because", 0.8, "", 0)
	f.Add("", "", "a1", "p", "", 1.0, "model server answered 503 after 3 attempts", 1)
	f.Add("10%\r50%", "\r(pid=1) done", "a1", " ", "r", 0.0, "x", 2)
	f.Add("", "(agent pid=7) 90%\r"+ResultPrefix+`{"agent_results": [], "total_agents": 1}`, "a1", "p", "", 0.5, "", 0)
	f.Add(ResultPrefix+`{"total_agents": 9}`, "", "a1", "p", "r", 1.5, "", 0)
	f.Fuzz(func(t *testing.T, before, after, agentID, proposal, reasoning string, score float64, failure string, unfinished int) {
		for _, s := range []string{before, after, agentID, proposal, reasoning, failure} {
			// JSON carries text only as valid UTF-8: what was sent is what must come back.
			if !utf8.ValidString(s) {
				return
			}
		}
		if laterResultLine(after) {
			return
		}
		results := []deliberation.AgentResult{{AgentID: agentID, Proposal: proposal, Reasoning: reasoning, Score: score}}
		var failures []deliberation.AgentFailure
		if failure != "" {
			failures = []deliberation.AgentFailure{{AgentID: "agent-f", Error: failure}}
		}
		total := len(results) + len(failures) + max(0, unfinished%4)
		raw, err := json.Marshal(map[string]any{
			"agent_results": results, "failures": failures, "total_agents": total,
			"completed_agents": len(results), "failed_agents": len(failures), "scoring_error": "",
		})
		if err != nil {
			return // a NaN or infinite score cannot be printed as JSON, so no job prints one
		}
		want, wantErr := deliberation.NewResult(results, failures, total, "")
		got, err := parseResult(before + "\n" + ResultPrefix + string(raw) + "\n" + after)
		switch {
		case wantErr != nil && err == nil:
			t.Fatalf("accepted a result the domain refuses (%v): %+v", wantErr, got)
		case wantErr != nil:
			return
		case err != nil:
			t.Fatalf("a valid result line was not read: %v\nline: %s", err, raw)
		case !reflect.DeepEqual(got, want):
			t.Fatalf("read %+v, want %+v", got, want)
		}
	})
}

// laterResultLine reports whether any line of s (ended by \n alone) starts with the prefix.
func laterResultLine(s string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, ResultPrefix) {
			return true
		}
	}
	return false
}
