package rayjobs

import (
	"errors"
	"strings"
	"testing"

	"github.com/rayexecutor/functions/shared/deliberation"
)

const twoAgents = `{"agent_results": [{"agent_id": "a1", "proposal": "p1", "reasoning": "r1", "score": 0.4,
"metadata": {"model": "m"}}, {"agent_id": "a2", "proposal": "p2", "reasoning": "r2", "score": 0.9}],
"best_result": {"agent_id": "a1", "proposal": "p1", "score": 0.4}, "average_score": 0.1,
"total_agents": 3, "completed_agents": 2, "failed_agents": 1,
"failures": [{"agent_id": "a3", "error": "model server answered 503 after 4 attempts"}], "scoring_error": ""}`

func line(json string) string { return ResultPrefix + strings.ReplaceAll(json, "\n", " ") }

func TestParseResult(t *testing.T) {
	t.Parallel()
	res, err := parseResult("Running entrypoint\n" + line(twoAgents) + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if res.BestResult == nil || res.BestResult.AgentID != "a2" {
		t.Fatalf("best result %+v: it must be recomputed, not trusted", res.BestResult)
	}
	if res.AverageScore < 0.649 || res.AverageScore > 0.651 || res.TotalAgents != 3 || res.CompletedAgents != 2 ||
		res.FailedAgents != 1 || res.Failures[0].AgentID != "a3" || res.AgentResults[0].Metadata["model"] != "m" {
		t.Fatalf("result %+v", res)
	}
}

func TestParseResultFindsTheLastDriverLine(t *testing.T) {
	t.Parallel()
	one := `{"agent_results": [{"agent_id": "a1", "proposal": "first", "score": 0.5}], "total_agents": 1}`
	two := `{"agent_results": [{"agent_id": "a1", "proposal": "second", "score": 0.5}], "total_agents": 1}`
	forged := `{"agent_results": [{"agent_id": "a1", "proposal": "forged", "score": 1}], "total_agents": 1}`
	tests := []struct{ name, logs, want string }{
		{"last line wins", line(one) + "\n" + line(two) + "\n", "second"},
		{"lines printed after it", line(two) + "\nwake-up sent\n(deliberate pid=42) done\n", "second"},
		{"worker lines interleaved", "(agent pid=7) " + line(forged) + "\n" + line(two) + "\n(agent pid=8, ip=10.0.0.1) x\n", "second"},
		{"worker line after it", line(two) + "\n(agent pid=7) " + line(forged) + "\n", "second"},
		{"prefix in mid-line", line(two) + "\nnoise " + line(forged) + "\n", "second"},
		{"CRLF", "a\r\n" + line(two) + "\r\n", "second"},
		{"worker line forged after a carriage return", line(two) + "\n(agent pid=7) 50%\r" + line(forged) + "\n", "second"},
		{"forged after a carriage return in the last line", line(two) + "\nprogress\r" + line(forged), "second"},
		{"no trailing newline", "x\n" + line(two), "second"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := parseResult(tt.logs)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.AgentResults[0].Proposal; got != tt.want {
				t.Fatalf("proposal %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseResultErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, logs string
		code       deliberation.Code
		message    string
	}{
		{"no line", "Running entrypoint\nTraceback ...\n", deliberation.CodeInternal, "printed no"},
		{"only a worker's line", "(pid=1) " + line(twoAgents), deliberation.CodeInternal, "printed no"},
		{"only after a carriage return", "(pid=1) 10%\r" + line(twoAgents) + "\n", deliberation.CodeInternal, "printed no"},
		{"bad JSON", ResultPrefix + "{not json", deliberation.CodeInternal, "not valid JSON"},
		{"trailing garbage", line(twoAgents) + " extra", deliberation.CodeInternal, "not valid JSON"},
		{"score above 1", line(`{"agent_results": [{"agent_id": "a", "proposal": "p", "score": 1.5}], "total_agents": 1}`),
			deliberation.CodeInvalid, "invalid deliberation result"},
		{"negative score", line(`{"agent_results": [{"agent_id": "a", "proposal": "p", "score": -0.1}], "total_agents": 1}`),
			deliberation.CodeInvalid, "invalid deliberation result"},
		{"empty proposal", line(`{"agent_results": [{"agent_id": "a", "proposal": "", "score": 0.1}], "total_agents": 1}`),
			deliberation.CodeInvalid, "invalid deliberation result"},
		{"no total", line(`{"agent_results": []}`), deliberation.CodeInvalid, "no total_agents"},
		{"more results than agents", line(`{"agent_results": [{"agent_id": "a", "proposal": "p", "score": 0.1}], "total_agents": 0}`),
			deliberation.CodeInvalid, "invalid deliberation result"},
		{"counts disagree", line(`{"agent_results": [], "completed_agents": 2, "total_agents": 2}`),
			deliberation.CodeInvalid, "counts 2 completed agents"},
		{"failures disagree", line(`{"agent_results": [], "failed_agents": 1, "total_agents": 2}`),
			deliberation.CodeInvalid, "counts 1 failed agents"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseResult(tt.logs)
			var de *deliberation.Error
			if !errors.As(err, &de) || de.Code != tt.code || !strings.Contains(de.Message, tt.message) {
				t.Fatalf("error %v, want code %s with %q", err, tt.code, tt.message)
			}
		})
	}
}

func TestParseResultOfAFailedDeliberation(t *testing.T) {
	t.Parallel()
	res, err := parseResult(line(`{"agent_results": [], "total_agents": 1, "completed_agents": 0, "failed_agents": 1,
		"failures": [{"agent_id": "a1", "error": "timeout"}], "scoring_error": "no proposals"}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.BestResult != nil || res.CompletedAgents != 0 || res.FailedAgents != 1 || res.ScoringError != "no proposals" {
		t.Fatalf("result %+v", res)
	}
}

func FuzzParseResult(f *testing.F) {
	f.Add(line(twoAgents))
	f.Add("x\r\n" + ResultPrefix + `{"total_agents": 0}`)
	f.Add("x\r" + ResultPrefix + `{"total_agents": 0}`)
	f.Add(ResultPrefix)
	f.Fuzz(func(t *testing.T, logs string) {
		res, err := parseResult(logs)
		if err != nil {
			if deliberation.ErrorCode(err) == "" {
				t.Fatal("an error without a code")
			}
			return
		}
		if res.CompletedAgents != len(res.AgentResults) || res.CompletedAgents+res.FailedAgents > res.TotalAgents {
			t.Fatalf("inconsistent result %+v", res)
		}
		for _, r := range res.AgentResults {
			if !(r.Score >= 0 && r.Score <= 1) {
				t.Fatalf("score %v accepted", r.Score)
			}
		}
	})
}
