package deliberation

import "encoding/json"

// resultContract is the JSON of a result as the deliberation job prints it and the Serve runner
// stores it (docs/ray.md); best_result and average_score are ignored because NewResult derives
// them itself.
type resultContract struct {
	AgentResults    []AgentResult  `json:"agent_results"`
	Failures        []AgentFailure `json:"failures"`
	TotalAgents     *int           `json:"total_agents"`
	CompletedAgents *int           `json:"completed_agents"`
	FailedAgents    *int           `json:"failed_agents"`
	ScoringError    string         `json:"scoring_error"`
}

// DecodeResult checks and decodes a result in the job's contract. Both ways a deliberation runs on
// Ray produce it: one Ray job prints it on its result line, the Serve runner stores it as it is.
func DecodeResult(data []byte) (Result, error) {
	var rc resultContract
	if err := json.Unmarshal(data, &rc); err != nil {
		return Result{}, &Error{Code: CodeInternal, Message: "the job's result line is not valid JSON", Cause: err}
	}
	switch {
	case rc.TotalAgents == nil:
		return Result{}, Errorf(CodeInvalid, "the job's result line has no total_agents")
	case rc.CompletedAgents != nil && *rc.CompletedAgents != len(rc.AgentResults):
		return Result{}, Errorf(CodeInvalid,
			"the job's result line counts %d completed agents but lists %d results", *rc.CompletedAgents, len(rc.AgentResults))
	case rc.FailedAgents != nil && *rc.FailedAgents != len(rc.Failures):
		return Result{}, Errorf(CodeInvalid,
			"the job's result line counts %d failed agents but lists %d failures", *rc.FailedAgents, len(rc.Failures))
	}
	return NewResult(rc.AgentResults, rc.Failures, *rc.TotalAgents, rc.ScoringError)
}
