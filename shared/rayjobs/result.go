package rayjobs

import (
	"context"
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

// parseResult decodes the last result line of a job's logs.
func parseResult(logs string) (deliberation.Result, error) {
	line, ok := lastResultLine(logs)
	if !ok {
		return deliberation.Result{}, deliberation.Errorf(deliberation.CodeInternal,
			"the job printed no %q line", strings.TrimSpace(ResultPrefix))
	}
	return deliberation.DecodeResult([]byte(line))
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
