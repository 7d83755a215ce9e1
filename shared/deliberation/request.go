package deliberation

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

const (
	DefaultTimeoutSeconds = 300
	DefaultMaxRetries     = 3
	DefaultMaxAgents      = 16
	maxRetriesLimit       = 10
	maxTimeoutSeconds     = 86400
	maxMetadataEntries    = 64
	maxMetadataValue      = 1024
	maxTaskDescription    = 65536
	maxModelName          = 256
	// MaxJobPayload bounds the request as the Ray job receives it: it travels in an env variable.
	MaxJobPayload = 100 * 1024
)

// RequestInput is an execute request as callers send it; NewRequest turns it into a Request.
// Pointers tell an absent number from an explicit zero.
type RequestInput struct {
	TaskID          string           `json:"task_id"`
	TaskDescription string           `json:"task_description"`
	Role            string           `json:"role"`
	Constraints     ConstraintsInput `json:"constraints"`
	Agents          []AgentConfig    `json:"agents"`
	VLLMURL         string           `json:"vllm_url"`
	VLLMModel       string           `json:"vllm_model"`
	// Pool names the pool of Ray clusters to run on; empty lets the models decide.
	Pool string `json:"pool,omitempty"`
}

// ConstraintsInput is the constraints part of a RequestInput.
type ConstraintsInput struct {
	StoryID        string            `json:"story_id"`
	PlanID         string            `json:"plan_id,omitempty"`
	TimeoutSeconds *int              `json:"timeout_seconds,omitempty"`
	MaxRetries     *int              `json:"max_retries,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
}

// AgentConfig is one agent: its id, the role whose system prompt it gets, and its model.
type AgentConfig struct {
	AgentID        string `json:"agent_id"`
	Role           string `json:"role"`
	Model          string `json:"model"`
	PromptTemplate string `json:"prompt_template,omitempty"`
}

// TaskConstraints are validated constraints with their defaults applied.
type TaskConstraints struct {
	StoryID        string            `json:"story_id"`
	PlanID         string            `json:"plan_id,omitempty"`
	TimeoutSeconds int               `json:"timeout_seconds"`
	MaxRetries     int               `json:"max_retries"`
	Metadata       map[string]string `json:"metadata,omitempty"`
}

// Request is a validated deliberation request. It is a value: NewRequest copies what it keeps.
type Request struct {
	TaskID          string          `json:"task_id"`
	TaskDescription string          `json:"task_description"`
	Role            string          `json:"role"`
	Constraints     TaskConstraints `json:"constraints"`
	Agents          []AgentConfig   `json:"agents"`
	VLLMURL         string          `json:"vllm_url"`
	VLLMModel       string          `json:"vllm_model"`
	// Pool is the resolved pool of Ray clusters; empty for the default pool.
	Pool string `json:"pool,omitempty"`
}

// Limits are the admission rules that come from configuration.
type Limits struct {
	MaxAgents int
	// Allowlist names the model servers a request may call; its zero value allows none.
	Allowlist Allowlist
	// MaxAnswerBytes bounds each model answer the job keeps (default DefaultMaxAnswerBytes).
	MaxAnswerBytes int
	// Pools are the pools some Ray cluster serves; empty means the default pool only.
	Pools []string
	// PoolModels maps a pool to the models whose requests go to it when they name no pool.
	PoolModels map[string][]string
}

// NewRequest validates in against docs/api.md and reports every problem at once.
func NewRequest(in RequestInput, lim Limits) (Request, error) {
	if lim.MaxAgents <= 0 {
		lim.MaxAgents = DefaultMaxAgents
	}
	var p problems
	checkIdentifier(&p, "task_id", "task_id", in.TaskID)
	checkText(&p, "task_description", "task_description", in.TaskDescription, freeTextControls)
	if len(in.TaskDescription) > maxTaskDescription {
		p.add("task_description", "task_description is longer than %d bytes", maxTaskDescription)
	}
	checkIdentifier(&p, "role", "role", in.Role)
	c := checkConstraints(&p, in.Constraints)
	agents := checkAgents(&p, in.Agents, lim.MaxAgents)
	modelURL := checkModelURL(&p, in.VLLMURL, lim.Allowlist)
	checkText(&p, "vllm_model", "vllm_model", in.VLLMModel, noControls)

	req := Request{
		TaskID: in.TaskID, TaskDescription: in.TaskDescription, Role: in.Role,
		Constraints: c, Agents: agents, VLLMURL: modelURL, VLLMModel: in.VLLMModel,
		Pool: resolvePool(&p, in.Pool, agents, in.VLLMModel, lim),
	}
	if len(p) == 0 {
		// Measured as the job receives it, policy included: that is what must fit.
		if payload, _ := req.JobPayload(NewID(), lim.JobPolicy()); len(payload) > MaxJobPayload {
			p.add("request", "request is too large")
		}
	}
	if err := p.err("invalid deliberation request"); err != nil {
		return Request{}, err
	}
	return req, nil
}

// checkText adds the problems of a required text field; allowed are the control characters it may
// hold.
func checkText(p *problems, field, name, value, allowed string) {
	if strings.TrimSpace(value) == "" {
		p.add(field, "%s cannot be empty", name)
	}
	checkControls(p, field, name, value, allowed)
}

func checkConstraints(p *problems, in ConstraintsInput) TaskConstraints {
	c := TaskConstraints{StoryID: in.StoryID, PlanID: in.PlanID,
		TimeoutSeconds: DefaultTimeoutSeconds, MaxRetries: DefaultMaxRetries}
	checkIdentifier(p, "constraints.story_id", "story_id", in.StoryID)
	if in.PlanID != "" {
		checkIdentifier(p, "constraints.plan_id", "plan_id", in.PlanID)
	}
	if t := in.TimeoutSeconds; t != nil {
		c.TimeoutSeconds = *t
		switch {
		case *t <= 0:
			p.add("constraints.timeout_seconds", "timeout_seconds must be positive, got %d", *t)
		case *t > maxTimeoutSeconds:
			p.add("constraints.timeout_seconds", "timeout_seconds must be at most %d, got %d", maxTimeoutSeconds, *t)
		}
	}
	if r := in.MaxRetries; r != nil {
		c.MaxRetries = *r
		switch {
		case *r < 0:
			p.add("constraints.max_retries", "max_retries cannot be negative, got %d", *r)
		case *r > maxRetriesLimit:
			p.add("constraints.max_retries", "max_retries must be at most %d, got %d", maxRetriesLimit, *r)
		}
	}
	if n := len(in.Metadata); n > maxMetadataEntries {
		p.add("constraints.metadata", "metadata has %d entries, at most %d", n, maxMetadataEntries)
	}
	if len(in.Metadata) > 0 {
		c.Metadata = make(map[string]string, len(in.Metadata))
		for k, v := range in.Metadata {
			if strings.TrimSpace(k) == "" {
				p.add("constraints.metadata", "metadata keys cannot be empty")
			}
			checkControls(p, "constraints.metadata", "metadata keys", k, noControls)
			shown := echoedKey(Printable(k))
			if len(v) > maxMetadataValue {
				p.add("constraints.metadata."+shown, "metadata value of %q is longer than %d bytes", shown, maxMetadataValue)
			}
			checkControls(p, "constraints.metadata."+shown, fmt.Sprintf("metadata value of %q", shown), v, freeTextControls)
			c.Metadata[k] = v
		}
	}
	return c
}

// maxEchoedKey bounds a caller's metadata key where a problem names it: problems are echoed in
// answers and log lines, and a key is as long as the caller likes.
const maxEchoedKey = 128

// echoedKey is k cut to maxEchoedKey bytes on a character boundary, marked when cut.
func echoedKey(k string) string {
	if len(k) <= maxEchoedKey {
		return k
	}
	n := maxEchoedKey
	for n > 0 && !utf8.RuneStart(k[n]) {
		n--
	}
	return k[:n] + "..."
}

func checkAgents(p *problems, in []AgentConfig, maxAgents int) []AgentConfig {
	switch {
	case len(in) == 0:
		p.add("agents", "At least one agent is required")
	case len(in) > maxAgents:
		p.add("agents", "at most %d agents, got %d", maxAgents, len(in))
	}
	seen := make(map[string]bool, len(in))
	out := make([]AgentConfig, len(in))
	for i, a := range in {
		field := fmt.Sprintf("agents[%d]", i)
		checkIdentifier(p, field+".agent_id", "agent_id", a.AgentID)
		checkIdentifier(p, field+".role", "role", a.Role)
		checkText(p, field+".model", "model", a.Model, noControls)
		if len(a.Model) > maxModelName {
			p.add(field+".model", "model is longer than %d characters", maxModelName)
		}
		checkControls(p, field+".prompt_template", "prompt_template", a.PromptTemplate, freeTextControls)
		if a.AgentID != "" && seen[a.AgentID] {
			p.add(field+".agent_id", "duplicate agent_id %s", a.AgentID)
		}
		seen[a.AgentID] = true
		out[i] = a
	}
	return out
}

// checkModelURL returns vllm_url in its canonical form, the one the job calls.
func checkModelURL(p *problems, raw string, allow Allowlist) string {
	switch {
	case strings.TrimSpace(raw) == "":
		p.add("vllm_url", "vllm_url cannot be empty")
		return raw
	case hasControl(raw, noControls):
		p.add("vllm_url", "vllm_url cannot hold control characters")
		return raw
	}
	canonical, problem := allow.check(raw)
	if problem != "" {
		p.add("vllm_url", "%s", problem)
		return raw
	}
	return canonical
}

// Fingerprint identifies the request's content, so an idempotency key reused with another body
// can be told from a replay. Defaults are applied first: an absent timeout equals an explicit 300.
func (r Request) Fingerprint() string {
	b, _ := json.Marshal(r) // maps marshal with sorted keys, so this is canonical
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
