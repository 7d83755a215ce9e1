package deliberation

import (
	"fmt"
	"strings"
)

// maxNamedAgents bounds how many of a result's wrong agent ids a message lists.
const maxNamedAgents = 8

// CheckAgainst reports how a job's result departs from the request it answers: it must name every
// agent of the request exactly once, as a proposal or a failure, no other, and count the request's
// agents as its total. A result that does not is a broken or forged job's, and is not recorded.
func (r Result) CheckAgainst(req Request) error {
	want := make(map[string]bool, len(req.Agents))
	for _, a := range req.Agents {
		want[a.AgentID] = true
	}
	seen := make(map[string]bool, len(want))
	var foreign, twice, missing []string
	name := func(id string) {
		switch {
		case !want[id]:
			foreign = append(foreign, id)
		case seen[id]:
			twice = append(twice, id)
		}
		seen[id] = true
	}
	for _, a := range r.AgentResults {
		name(a.AgentID)
	}
	for _, f := range r.Failures {
		name(f.AgentID)
	}
	for _, a := range req.Agents {
		if !seen[a.AgentID] {
			missing = append(missing, a.AgentID)
		}
	}
	var problems []string
	if len(foreign) > 0 {
		problems = append(problems, "the job's result names agents the request does not have: "+agentList(foreign))
	}
	if len(twice) > 0 {
		problems = append(problems, "the job's result names agents more than once: "+agentList(twice))
	}
	if len(missing) > 0 {
		problems = append(problems, "the job's result leaves out agents of the request: "+agentList(missing))
	}
	if r.TotalAgents != len(req.Agents) {
		problems = append(problems, fmt.Sprintf("the job's result counts %d agents, the request has %d", r.TotalAgents, len(req.Agents)))
	}
	if len(problems) == 0 {
		return nil
	}
	return Errorf(CodeInvalid, "%s", strings.Join(problems, "; "))
}

// agentList quotes ids a job reported (each cut short: the job chose them) for a message.
func agentList(ids []string) string {
	shown := make([]string, 0, min(len(ids), maxNamedAgents))
	for _, id := range ids[:min(len(ids), maxNamedAgents)] {
		shown = append(shown, fmt.Sprintf("%q", echoedKey(id)))
	}
	if len(ids) > maxNamedAgents {
		shown = append(shown, fmt.Sprintf("and %d more", len(ids)-maxNamedAgents))
	}
	return strings.Join(shown, ", ")
}
