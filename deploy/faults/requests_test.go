//go:build faults

package faults

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// maxRetries gives every deliberation 1 + 2 Ray attempts: enough to outlive the lost jobs of one
// Ray restart (and one more), which are infrastructure losses the service resubmits.
const maxRetries = 2

// shape is one kind of deliberation the load sends and the outcome it should come to.
type shape struct {
	name    string
	agents  []string // one model per agent
	timeout time.Duration
}

// shapes, picked at random: most complete (some slowly), some complete with a failed agent, some
// fail because no agent proposes anything, and a few run into their deadline on a model that
// never answers. Most have one agent: every agent is a Ray worker process of its own, and those
// are what a 2-core machine runs out of first.
var shapes = []shape{
	{"ok", []string{modelOK}, 120 * time.Second},
	{"partial", []string{modelOK, modelBroken}, 120 * time.Second},
	{"slow", []string{modelSlow}, 120 * time.Second},
	{"all-fail", []string{modelBroken}, 120 * time.Second},
	{"ok", []string{modelOK, modelOK}, 120 * time.Second},
	{"ok", []string{modelOK}, 120 * time.Second},
	{"partial", []string{modelBroken, modelOK}, 120 * time.Second},
	{"ok", []string{modelOK}, 120 * time.Second},
	{"all-fail", []string{modelBroken}, 120 * time.Second},
	{"deadline", []string{modelStalled}, 30 * time.Second},
}

var agentRoles = []string{"DEV", "QA", "ARCHITECT"}

// requestBody is the execute request of the i-th deliberation of the run, of shape sh; replays
// send it again byte for byte.
func requestBody(i int, sh shape, modelURL string) []byte {
	timeout, retries := int(sh.timeout/time.Second), maxRetries
	in := deliberation.RequestInput{
		TaskID:          fmt.Sprintf("fault-%d", i),
		TaskDescription: fmt.Sprintf("Deliberation %d of the fault suite (%s)", i, sh.name),
		Role:            "DEV",
		Constraints: deliberation.ConstraintsInput{StoryID: "story-faults", TimeoutSeconds: &timeout,
			MaxRetries: &retries, Metadata: map[string]string{"shape": sh.name}},
		VLLMURL: modelURL, VLLMModel: modelOK,
	}
	for a, model := range sh.agents {
		in.Agents = append(in.Agents, deliberation.AgentConfig{
			AgentID: fmt.Sprintf("agent-%d", a), Role: agentRoles[a%len(agentRoles)], Model: model})
	}
	body, err := json.Marshal(in)
	if err != nil {
		panic(err) // a fixed struct of strings and ints always encodes
	}
	return body
}
