package callers

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
)

// Entry is one caller of CALLERS_FILE. The quota fields, when present, override the service-wide
// defaults (CALLER_MAX_ACTIVE, CALLER_SUBMIT_RATE, CALLER_SUBMIT_BURST) for this caller.
type Entry struct {
	Name        string   `json:"name"`
	TokenSHA256 string   `json:"token_sha256"`
	Role        Role     `json:"role"`
	MaxActive   *int     `json:"max_active,omitempty"`
	SubmitRate  *float64 `json:"submit_rate,omitempty"`
	SubmitBurst *int     `json:"submit_burst,omitempty"`
}

type file struct {
	Callers []Entry `json:"callers"`
}

// validName keeps a caller name fit for a Redis key, a log line and a status answer.
var validName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// MaxCallers bounds the file: each caller costs an index per shard in Redis.
const MaxCallers = 1000

// Parse reads a callers file: JSON {"callers": [{"name", "token_sha256", "role", "max_active",
// "submit_rate", "submit_burst"}]}, decoded strictly. It returns every problem at once, none
// echoing a hash.
func Parse(data []byte) ([]Entry, []string) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f file
	if err := dec.Decode(&f); err != nil {
		return nil, []string{"is not a callers file (JSON {\"callers\": [...]}): " + err.Error()}
	}
	if dec.More() {
		return nil, []string{"holds data after the JSON object"}
	}
	var problems []string
	if len(f.Callers) > MaxCallers {
		problems = append(problems, fmt.Sprintf("names %d callers, at most %d", len(f.Callers), MaxCallers))
	}
	names, hashes := map[string]bool{}, map[string]bool{}
	for i, e := range f.Callers {
		at := fmt.Sprintf("callers[%d]", i)
		switch {
		case !validName.MatchString(e.Name):
			problems = append(problems, at+".name must be 1-64 characters of [A-Za-z0-9._-]")
		case e.Name == TokenOperator || e.Name == Anonymous:
			problems = append(problems, at+".name "+e.Name+" is reserved")
		case names[e.Name]:
			problems = append(problems, at+".name "+e.Name+" is given twice")
		}
		names[e.Name] = true
		if raw, err := hex.DecodeString(e.TokenSHA256); err != nil || len(raw) != 32 {
			problems = append(problems, at+".token_sha256 must be 64 hex characters (the SHA-256 of the token)")
		} else if hashes[string(raw)] {
			problems = append(problems, at+".token_sha256 is another caller's too")
		} else {
			hashes[string(raw)] = true
		}
		if e.Role != RoleCaller && e.Role != RoleOperator {
			problems = append(problems, at+".role must be caller or operator")
		}
		if e.MaxActive != nil && (*e.MaxActive < 0 || *e.MaxActive > 1<<30) {
			problems = append(problems, at+".max_active must be 0 (no bound) to 1073741824")
		}
		if e.SubmitRate != nil && (*e.SubmitRate < 0 || *e.SubmitRate > 1e6) {
			problems = append(problems, at+".submit_rate must be 0 (no bound) to 1000000 per second")
		}
		if e.SubmitBurst != nil && (*e.SubmitBurst < 1 || *e.SubmitBurst > 1<<20) {
			problems = append(problems, at+".submit_burst must be 1 to 1048576")
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return f.Callers, nil
}

// Caller is the entry as an authenticated caller, its quota the defaults with its own overrides.
func (e Entry) Caller(defaults Quota) Caller {
	q := defaults
	if e.MaxActive != nil {
		q.MaxActive = *e.MaxActive
	}
	if e.SubmitRate != nil {
		q.SubmitRate = *e.SubmitRate
	}
	if e.SubmitBurst != nil {
		q.SubmitBurst = *e.SubmitBurst
	}
	return Caller{Name: e.Name, Role: e.Role, Quota: q, Limited: true}
}

// Hash is the entry's token hash (valid once Parse accepted it).
func (e Entry) Hash() [32]byte {
	var h [32]byte
	raw, _ := hex.DecodeString(e.TokenSHA256)
	copy(h[:], raw)
	return h
}
