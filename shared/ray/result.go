package ray

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// ResultPrefix starts the line on which a deliberation job prints its result (docs/ray.md).
const ResultPrefix = "RAY_EXECUTOR_RESULT v1 "

// Result reads the result a job printed in its logs.
func (c *Cluster) Result(ctx context.Context, submissionID string) (deliberation.Result, error) {
	what := jobLabel(submissionID)
	logs, err := c.client.Logs(ctx, submissionID)
	if err != nil {
		return deliberation.Result{}, domainError(err, what)
	}
	res, err := parseResult(logs)
	if err != nil {
		return deliberation.Result{}, fmt.Errorf("%s: %w", what, err)
	}
	return res, nil
}

// resultLine is the JSON of a result line; best_result and average_score are ignored because
// deliberation.NewResult derives them itself.
type resultLine struct {
	AgentResults    []deliberation.AgentResult  `json:"agent_results"`
	Failures        []deliberation.AgentFailure `json:"failures"`
	TotalAgents     *int                        `json:"total_agents"`
	CompletedAgents *int                        `json:"completed_agents"`
	FailedAgents    *int                        `json:"failed_agents"`
	ScoringError    string                      `json:"scoring_error"`
}

// parseResult decodes the last result line of a job's logs.
func parseResult(logs string) (deliberation.Result, error) {
	line, ok := lastResultLine(logs)
	if !ok {
		return deliberation.Result{}, deliberation.Errorf(deliberation.CodeInternal,
			"the job printed no %q line", strings.TrimSpace(ResultPrefix))
	}
	return decodeResult([]byte(line))
}

// decodeResult checks and decodes a result in the job's contract (the JSON of its result line,
// which the runner stores as it is).
func decodeResult(data []byte) (deliberation.Result, error) {
	var rl resultLine
	if err := json.Unmarshal(data, &rl); err != nil {
		return deliberation.Result{}, &deliberation.Error{Code: deliberation.CodeInternal,
			Message: "the job's result line is not valid JSON", Cause: err}
	}
	switch {
	case rl.TotalAgents == nil:
		return deliberation.Result{}, deliberation.Errorf(deliberation.CodeInvalid, "the job's result line has no total_agents")
	case rl.CompletedAgents != nil && *rl.CompletedAgents != len(rl.AgentResults):
		return deliberation.Result{}, deliberation.Errorf(deliberation.CodeInvalid,
			"the job's result line counts %d completed agents but lists %d results", *rl.CompletedAgents, len(rl.AgentResults))
	case rl.FailedAgents != nil && *rl.FailedAgents != len(rl.Failures):
		return deliberation.Result{}, deliberation.Errorf(deliberation.CodeInvalid,
			"the job's result line counts %d failed agents but lists %d failures", *rl.FailedAgents, len(rl.Failures))
	}
	return deliberation.NewResult(rl.AgentResults, rl.Failures, *rl.TotalAgents, rl.ScoringError)
}

// lastResultLine finds the last line that starts with the prefix. Ray interleaves output its
// workers forward (prefixed with "(pid=...)" and the like), and the driver may print after its
// result, so neither the last line nor a prefix in mid-line counts. Only \n ends a line: Ray
// prefixes each line a worker prints, but not what follows a \r inside one, so a worker (or a
// model's answer it prints) could start a forged result line with a carriage return. A CRLF line
// still parses: the \r is whitespace after the JSON.
func lastResultLine(logs string) (string, bool) {
	for end := len(logs); end > 0; {
		start := strings.LastIndexByte(logs[:end], '\n') + 1
		if line := logs[start:end]; strings.HasPrefix(line, ResultPrefix) {
			return line[len(ResultPrefix):], true
		}
		end = start - 1
	}
	return "", false
}
