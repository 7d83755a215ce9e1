package deliberation

import (
	"fmt"
	"strings"
)

// AgentResult is one agent's proposal and its judge score.
type AgentResult struct {
	AgentID   string            `json:"agent_id"`
	Proposal  string            `json:"proposal"`
	Reasoning string            `json:"reasoning"`
	Score     float64           `json:"score"`
	Metadata  map[string]string `json:"metadata,omitempty"`
}

// AgentFailure says why one agent produced no proposal.
type AgentFailure struct {
	AgentID string `json:"agent_id"`
	Error   string `json:"error"`
}

// Result is the outcome of a deliberation, one shape for one or many agents.
type Result struct {
	AgentResults    []AgentResult  `json:"agent_results"`
	BestResult      *AgentResult   `json:"best_result,omitempty"`
	TotalAgents     int            `json:"total_agents"`
	CompletedAgents int            `json:"completed_agents"`
	FailedAgents    int            `json:"failed_agents"`
	AverageScore    float64        `json:"average_score"`
	Failures        []AgentFailure `json:"failures,omitempty"`
	ScoringError    string         `json:"scoring_error"`
}

// NewResult validates what a job reported and derives the best result and the average score itself,
// trusting neither from the job: best is the highest score, the first on ties.
func NewResult(results []AgentResult, failures []AgentFailure, totalAgents int, scoringError string) (Result, error) {
	var p problems
	for i, r := range results {
		field := fmt.Sprintf("agent_results[%d]", i)
		if strings.TrimSpace(r.AgentID) == "" {
			p.add(field+".agent_id", "agent_id cannot be empty")
		}
		if strings.TrimSpace(r.Proposal) == "" {
			p.add(field+".proposal", "proposal cannot be empty")
		}
		if !(r.Score >= 0 && r.Score <= 1) {
			p.add(field+".score", "score must be between 0.0 and 1.0, got %v", r.Score)
		}
	}
	if totalAgents < 0 {
		p.add("total_agents", "total_agents cannot be negative, got %d", totalAgents)
	}
	if len(results)+len(failures) > totalAgents {
		p.add("total_agents", "completed + failed agents exceed total_agents %d", totalAgents)
	}
	if err := p.err("invalid deliberation result"); err != nil {
		return Result{}, err
	}
	res := Result{
		AgentResults: append([]AgentResult(nil), results...), Failures: append([]AgentFailure(nil), failures...),
		TotalAgents: totalAgents, CompletedAgents: len(results), FailedAgents: len(failures), ScoringError: scoringError,
	}
	if res.AgentResults == nil {
		res.AgentResults = []AgentResult{}
	}
	var sum float64
	for i := range res.AgentResults {
		sum += res.AgentResults[i].Score
		if res.BestResult == nil || res.AgentResults[i].Score > res.BestResult.Score {
			best := res.AgentResults[i]
			res.BestResult = &best
		}
	}
	if len(results) > 0 {
		res.AverageScore = sum / float64(len(results))
	}
	return res, nil
}

// Summary explains a result in which no agent succeeded, for the error message of a failed entry.
func (r Result) Summary() string {
	if len(r.Failures) == 0 {
		return "no agent produced a proposal"
	}
	parts := make([]string, 0, len(r.Failures))
	for _, f := range r.Failures {
		parts = append(parts, f.AgentID+": "+f.Error)
	}
	return "no agent produced a proposal (" + strings.Join(parts, "; ") + ")"
}
