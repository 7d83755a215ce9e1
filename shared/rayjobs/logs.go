package rayjobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
)

// Logs returns a job's logs. Ray answers them whole in one JSON string; when they are longer than
// MaxLogBytes only their end is kept, from the first complete line on, since what a job reports
// last is what its reader needs.
func (c *Client) Logs(ctx context.Context, submissionID string) (string, error) {
	const op = "logs"
	if err := checkID(op, submissionID); err != nil {
		return "", err
	}
	res, err := c.do(ctx, request{op: op, method: http.MethodGet, path: jobPath(submissionID, "/logs"),
		idempotent: true, transfer: true, maxBody: c.cfg.MaxLogBytes, tail: true})
	if err != nil {
		return "", err
	}
	var logs string
	if res.truncated {
		logs, err = decodeLogsTail(res.body)
	} else {
		var out struct {
			Logs string `json:"logs"`
		}
		err = json.Unmarshal(res.body, &out)
		logs = out.Logs
	}
	if err != nil {
		return "", &Error{Op: op, kind: ErrProtocol, cause: err, Detail: truncate(err.Error(), maxDetail)}
	}
	return logs, nil
}

var (
	errNotLogsTail = errors.New("the end of the answer is not the end of a logs string")
	escapedNewline = []byte(`\n`)
)

// decodeLogsTail decodes the end of a `{"logs": "..."}` answer whose beginning was dropped. It
// starts after the first line break whose escape is certain (an escaped backslash followed by n is
// no line break), so the text it unquotes is a valid JSON string body.
func decodeLogsTail(tail []byte) (string, error) {
	body, ok := bytes.CutSuffix(bytes.TrimRight(tail, " \t\r\n"), []byte(`"}`))
	if !ok {
		return "", errNotLogsTail
	}
	for from := 0; ; {
		i := bytes.Index(body[from:], escapedNewline)
		if i < 0 {
			return "", nil // not one complete line in the tail
		}
		at := from + i
		from = at + len(escapedNewline)
		run := 0
		for at-run-1 >= 0 && body[at-run-1] == '\\' {
			run++
		}
		if run%2 == 1 || at-run == 0 {
			// Escaped itself, or the backslashes reach the cut: not a certain line break.
			continue
		}
		quoted := make([]byte, 0, len(body)-from+2)
		quoted = append(append(append(quoted, '"'), body[from:]...), '"')
		var logs string
		if err := json.Unmarshal(quoted, &logs); err != nil {
			return "", err
		}
		return logs, nil
	}
}
