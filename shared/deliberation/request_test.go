package deliberation

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func validInput() RequestInput {
	return RequestInput{
		TaskID: "ceremony-1:story-1:role-ARCHITECT", TaskDescription: "Design the cache", Role: "ARCHITECT",
		Constraints: ConstraintsInput{StoryID: "story-1", PlanID: "plan-1"},
		Agents:      []AgentConfig{{AgentID: "a1", Role: "ARCHITECT", Model: "m1"}, {AgentID: "a2", Role: "QA", Model: "m2"}},
		VLLMURL:     "http://vllm.local:8000", VLLMModel: "judge",
	}
}

func ptr(n int) *int { return &n }

// open admits any model server but the special hosts.
var open = Limits{Allowlist: AllowAny(nil)}

// allowing admits the model servers of entries only.
func allowing(t *testing.T, entries ...string) Limits {
	t.Helper()
	a, err := ParseAllowlist(entries, nil)
	if err != nil {
		t.Fatal(err)
	}
	return Limits{Allowlist: a}
}

func TestNewRequestAppliesDefaultsAndKeepsExplicitZero(t *testing.T) {
	req, err := NewRequest(validInput(), open)
	if err != nil {
		t.Fatal(err)
	}
	if req.Constraints.TimeoutSeconds != 300 || req.Constraints.MaxRetries != 3 {
		t.Fatalf("defaults = %d s, %d retries; want 300 and 3", req.Constraints.TimeoutSeconds, req.Constraints.MaxRetries)
	}
	in := validInput()
	in.Constraints.MaxRetries, in.Constraints.TimeoutSeconds = ptr(0), ptr(42)
	req, err = NewRequest(in, open)
	if err != nil {
		t.Fatal(err)
	}
	if req.Constraints.MaxRetries != 0 || req.Constraints.TimeoutSeconds != 42 {
		t.Fatalf("explicit values = %d s, %d retries; want 42 and 0", req.Constraints.TimeoutSeconds, req.Constraints.MaxRetries)
	}
}

// TestEveryFieldWrong checks that one error lists every problem with the spec's paths and messages.
func TestEveryFieldWrong(t *testing.T) {
	meta := map[string]string{"big": strings.Repeat("x", 1025)}
	for i := range 64 {
		meta[strings.Repeat("k", i+1)] = "v"
	}
	in := RequestInput{
		TaskID: "bad id!", TaskDescription: "  ", Role: "",
		Constraints: ConstraintsInput{StoryID: "", PlanID: "../plan", TimeoutSeconds: ptr(-5), MaxRetries: ptr(-1), Metadata: meta},
		Agents: []AgentConfig{
			{AgentID: "", Role: "DEV", Model: "m"},
			{AgentID: "a1", Role: "bad role", Model: " "},
			{AgentID: "a1", Role: "QA", Model: "m"},
		},
		VLLMURL: "ftp://x", VLLMModel: "",
	}
	_, err := NewRequest(in, Limits{MaxAgents: 2, Allowlist: AllowAny(nil)})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeInvalid {
		t.Fatalf("error = %v, want an invalid application error", err)
	}
	want := []FieldError{
		{"task_id", "task_id has invalid characters"},
		{"task_description", "task_description cannot be empty"},
		{"role", "role cannot be empty"},
		{"constraints.story_id", "story_id cannot be empty"},
		{"constraints.plan_id", "plan_id has invalid characters"},
		{"constraints.timeout_seconds", "timeout_seconds must be positive, got -5"},
		{"constraints.max_retries", "max_retries cannot be negative, got -1"},
		{"constraints.metadata", "metadata has 65 entries, at most 64"},
		{"constraints.metadata.big", `metadata value of "big" is longer than 1024 bytes`},
		{"agents", "at most 2 agents, got 3"},
		{"agents[0].agent_id", "agent_id cannot be empty"},
		{"agents[1].role", "role has invalid characters"},
		{"agents[1].model", "model cannot be empty"},
		{"agents[2].agent_id", "duplicate agent_id a1"},
		{"vllm_url", "vllm_url must be an absolute http or https URL"},
		{"vllm_model", "vllm_model cannot be empty"},
	}
	got := map[FieldError]bool{}
	for _, f := range e.Fields {
		got[f] = true
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("missing problem %+v", w)
		}
	}
	if len(e.Fields) != len(want) {
		t.Errorf("got %d problems, want %d: %+v", len(e.Fields), len(want), e.Fields)
	}
}

func TestValidationRules(t *testing.T) {
	cases := []struct {
		name   string
		change func(*RequestInput)
		lim    Limits
		field  string
		msg    string
	}{
		{"no agents", func(in *RequestInput) { in.Agents = nil }, open, "agents", "At least one agent is required"},
		{"too many retries", func(in *RequestInput) { in.Constraints.MaxRetries = ptr(11) }, open, "constraints.max_retries", "max_retries must be at most 10, got 11"},
		{"zero timeout", func(in *RequestInput) { in.Constraints.TimeoutSeconds = ptr(0) }, open, "constraints.timeout_seconds", "timeout_seconds must be positive, got 0"},
		{"long id", func(in *RequestInput) { in.TaskID = strings.Repeat("a", 129) }, open, "task_id", "task_id is longer than 128 characters"},
		{"long description", func(in *RequestInput) { in.TaskDescription = strings.Repeat("a", 65537) }, open, "task_description", "task_description is longer than 65536 bytes"},
		{"relative url", func(in *RequestInput) { in.VLLMURL = "/v1" }, open, "vllm_url", "vllm_url must be an absolute http or https URL"},
		{"empty url", func(in *RequestInput) { in.VLLMURL = "" }, open, "vllm_url", "vllm_url cannot be empty"},
		{"url not allowed by prefix trick", func(in *RequestInput) { in.VLLMURL = "http://vllm.local.evil.com:8000/" },
			allowing(t, "http://vllm.local:8000"), "vllm_url", "vllm_url is not allowed"},
		{"url other port", func(in *RequestInput) { in.VLLMURL = "http://vllm.local:9000" },
			allowing(t, "http://vllm.local:8000"), "vllm_url", "vllm_url is not allowed"},
		{"url other scheme", func(in *RequestInput) { in.VLLMURL = "https://vllm.local:8000" },
			allowing(t, "http://vllm.local:8000"), "vllm_url", "vllm_url is not allowed"},
		{"too large for the job", func(in *RequestInput) {
			in.TaskDescription = strings.Repeat("a", 60000)
			in.Agents = nil
			for i := range 16 {
				in.Agents = append(in.Agents, AgentConfig{AgentID: "a" + strings.Repeat("x", i), Role: "DEV", Model: "m", PromptTemplate: strings.Repeat("t", 3000)})
			}
		}, open, "request", "request is too large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := validInput()
			c.change(&in)
			_, err := NewRequest(in, c.lim)
			var e *Error
			if !errors.As(err, &e) || len(e.Fields) != 1 || e.Fields[0] != (FieldError{c.field, c.msg}) {
				t.Fatalf("error = %v, want exactly %s: %s", err, c.field, c.msg)
			}
		})
	}
}

func TestAllowlistAcceptsExactOrigin(t *testing.T) {
	in := validInput()
	in.VLLMURL = "http://vllm.local:80/v1"
	if _, err := NewRequest(in, allowing(t, "http://VLLM.local")); err != nil {
		t.Fatalf("allowed origin refused: %v", err)
	}
	for _, bad := range []string{"vllm.local:80", "http://x/path", "ftp://x:1", "http://u:p@x:1", "http://x?", "http://x#f", "http://x:0"} {
		if _, err := ParseOrigin(bad, nil); err == nil {
			t.Errorf("ParseOrigin(%q) accepted", bad)
		}
	}
}

func TestFingerprintIgnoresAbsentVersusDefault(t *testing.T) {
	a, _ := NewRequest(validInput(), open)
	in := validInput()
	in.Constraints.TimeoutSeconds = ptr(300)
	b, _ := NewRequest(in, open)
	in.Constraints.TimeoutSeconds = ptr(301)
	c, _ := NewRequest(in, open)
	if a.Fingerprint() != b.Fingerprint() || a.Fingerprint() == c.Fingerprint() {
		t.Fatal("fingerprint must equal for equal requests and differ otherwise")
	}
}

// TestControlCharacters: no field takes NUL or other C0 controls, but free text keeps its tabs and
// newlines; problems name the field's path.
func TestControlCharacters(t *testing.T) {
	in := validInput()
	in.TaskDescription = "Design the cache:\n\t- keys\x00"
	in.Agents[0].Model = "m1\x1b[2J"
	in.Agents[1].PromptTemplate = "{task}\r"
	in.VLLMModel = "judge\x00"
	in.Constraints.Metadata = map[string]string{"ok": "line\nline\tcol", "bad\x07key": "v", "note": "\x1b]0;title\x07"}
	_, err := NewRequest(in, open)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v, want the control characters refused", err)
	}
	want := []FieldError{
		{"task_description", "task_description cannot hold control characters other than tab and newline"},
		{"agents[0].model", "model cannot hold control characters"},
		{"agents[1].prompt_template", "prompt_template cannot hold control characters other than tab and newline"},
		{"vllm_model", "vllm_model cannot hold control characters"},
		{"constraints.metadata", "metadata keys cannot hold control characters"},
		{"constraints.metadata.note", `metadata value of "note" cannot hold control characters other than tab and newline`},
	}
	if len(e.Fields) != len(want) {
		t.Errorf("problems %+v, want %d", e.Fields, len(want))
	}
	for _, w := range want {
		if !slices.Contains(e.Fields, w) {
			t.Errorf("missing problem %+v in %+v", w, e.Fields)
		}
	}
	in = validInput()
	in.TaskDescription, in.Constraints.Metadata = "step 1\n\tstep 2", map[string]string{"k": "a\tb\nc"}
	if _, err := NewRequest(in, open); err != nil {
		t.Fatalf("tabs and newlines in free text refused: %v", err)
	}
}
