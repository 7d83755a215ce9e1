package deliberation

import (
	"strings"
	"testing"
	"time"
)

func TestResultMustAnswerTheRequest(t *testing.T) {
	req, err := NewRequest(validInput(), open) // agents a1 and a2
	if err != nil {
		t.Fatal(err)
	}
	result := func(total int, ok []string, failed ...string) Result {
		t.Helper()
		var rs []AgentResult
		for _, id := range ok {
			rs = append(rs, AgentResult{AgentID: id, Proposal: "p", Score: 0.5})
		}
		var fs []AgentFailure
		for _, id := range failed {
			fs = append(fs, AgentFailure{AgentID: id, Error: "503"})
		}
		r, err := NewResult(rs, fs, total, "")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if err := result(2, []string{"a1"}, "a2").CheckAgainst(req); err != nil {
		t.Fatalf("a matching result refused: %v", err)
	}
	for name, c := range map[string]struct {
		res  Result
		want string
	}{
		"foreign agent":  {result(3, []string{"a1", "evil"}, "a2"), `the job's result names agents the request does not have: "evil"; the job's result counts 3 agents, the request has 2`},
		"agent twice":    {result(2, []string{"a1"}, "a1"), `the job's result names agents more than once: "a1"; the job's result leaves out agents of the request: "a2"`},
		"agent left out": {result(2, []string{"a1"}), `the job's result leaves out agents of the request: "a2"`},
		"unnamed agent":  {result(1, nil, ""), `the job's result names agents the request does not have: ""; the job's result leaves out agents of the request: "a1", "a2"; the job's result counts 1 agents, the request has 2`},
		"wrong total":    {result(5, []string{"a1", "a2"}), "the job's result counts 5 agents, the request has 2"},
	} {
		err := c.res.CheckAgainst(req)
		if ErrorCode(err) != CodeInvalid || ErrorMessage(err) != c.want {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	many := make([]string, 20)
	for i := range many {
		many[i] = strings.Repeat("x", 300) + string(rune('a'+i))
	}
	msg := ErrorMessage(result(22, append([]string{"a1", "a2"}, many...)).CheckAgainst(req))
	if !strings.Contains(msg, "and 12 more") || len(msg) > 2000 {
		t.Errorf("a result naming 20 foreign agents: message of %d bytes: %.200s", len(msg), msg)
	}
}

// TestErrorMessageIsPrintable: a failure message quotes Ray, the job or the runner; what is stored
// and shown holds no control characters or terminal escapes.
func TestErrorMessageIsPrintable(t *testing.T) {
	d, _ := newEntry(t).Fail("boom\x1b[31m red\x00\r\nnext", t0)
	if d.ErrorMessage != "boom rednext" {
		t.Errorf("Fail stored %q", d.ErrorMessage)
	}
	res, err := NewResult(nil, []AgentFailure{{AgentID: "a1", Error: "bad\x1b[2Jgateway\x07"}}, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	d, _ = newEntry(t).Complete(res, 1, t0.Add(time.Second))
	if d.ErrorMessage != "no agent produced a proposal (a1: badgateway)" {
		t.Errorf("Complete stored %q", d.ErrorMessage)
	}
}
