package deliberation

import "encoding/json"

// DefaultMaxAnswerBytes bounds a model answer the job keeps: 16 agents' proposals and reasonings at
// this size take 2 MiB of the result line, well inside the 8 MiB of job logs the service reads.
const DefaultMaxAnswerBytes = 64 << 10

// JobPolicy is what the job enforces on its own side (docs/ray.md), whoever sent it the request:
// the origins it may call (canonical scheme://host:port, or exactly ["*"]) and the most bytes of
// a model answer it keeps.
type JobPolicy struct {
	AllowedOrigins []string `json:"allowed_origins"`
	MaxAnswerBytes int      `json:"max_answer_bytes"`
}

// JobPolicy is the policy of the jobs this deployment runs.
func (l Limits) JobPolicy() JobPolicy {
	return JobPolicy{AllowedOrigins: l.Allowlist.Origins(), MaxAnswerBytes: l.MaxAnswerBytes}
}

// jobPayload is the request as the deliberation job reads it (RAY_EXECUTOR_REQUEST, or the
// runner's queue entry).
type jobPayload struct {
	DeliberationID string `json:"deliberation_id"`
	Request
	Policy JobPolicy `json:"policy"`
}

// JobPayload is the JSON the job receives for deliberation id under policy. The job refuses a
// policy without a list of origins or a positive bound, so the zero policy is sent as no origin
// allowed and the default bound.
func (r Request) JobPayload(id string, policy JobPolicy) ([]byte, error) {
	if policy.AllowedOrigins == nil {
		policy.AllowedOrigins = []string{}
	}
	if policy.MaxAnswerBytes <= 0 {
		policy.MaxAnswerBytes = DefaultMaxAnswerBytes
	}
	return json.Marshal(jobPayload{DeliberationID: id, Request: r, Policy: policy})
}
