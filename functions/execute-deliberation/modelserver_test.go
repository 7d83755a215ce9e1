package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/rayexecutor/functions/functions/internal/functest"
)

// TestModelServerPolicy: vllm_url is the one caller-chosen address the job calls from inside the
// Ray cluster. Nothing is allowed until VLLM_URL_ALLOWLIST says so; "*" still keeps link-local and
// metadata addresses out however they are spelt; a Unicode look-alike of an allowed host is another
// host; the URL is an origin and a base path only; names hold no control characters. What is
// accepted reaches the job in its canonical form, with the policy the job enforces itself.
func TestModelServerPolicy(t *testing.T) {
	t.Parallel()
	stack := functest.NewStack(t)
	bin := functest.Build(t)
	start := func(allowlist string) string {
		return functest.Start(t, bin, stack.Env(map[string]string{"VLLM_URL_ALLOWLIST": allowlist})).URL + "/"
	}
	unset, star, deepinfra := start(""), start("*"), start("https://api.deepinfra.com")
	refused := []struct{ url, vllmURL, field, message string }{
		{unset, "http://127.0.0.1:8000", "vllm_url", "VLLM_URL_ALLOWLIST is empty"},
		{unset, "http://169.254.169.254:80", "vllm_url", "VLLM_URL_ALLOWLIST is empty"},
		{star, "http://169.254.169.254/latest/meta-data", "vllm_url", "link-local and cloud metadata"},
		{star, "http://metadata.google.internal", "vllm_url", "link-local and cloud metadata"},
		{star, "http://[fd00:ec2::254]", "vllm_url", "link-local and cloud metadata"},
		{star, "http://[fe80::1]:8000", "vllm_url", "link-local and cloud metadata"},
		{star, "http://2852039166", "vllm_url", "dotted-quad"},
		{star, "http://0251.0376.0251.0376", "vllm_url", "dotted-quad"},
		{star, "http://0xa9fea9fe", "vllm_url", "dotted-quad"},
		{star, "http://[::ffff:169.254.169.254]", "vllm_url", "IPv4-mapped"},
		{star, "http://127.0.0.1:8000/v1?x=1", "vllm_url", "without user information, query or fragment"},
		{star, "http://127.0.0.1:8000/#x", "vllm_url", "without user information, query or fragment"},
		{star, "http://user:pw@127.0.0.1:8000", "vllm_url", "without user information, query or fragment"},
		{deepinfra, "https://api.deepİnfra.com", "vllm_url", "vllm_url is not allowed"},
	}
	for _, c := range refused {
		body := strings.Replace(functest.ValidRequest, functest.ModelServer, c.vllmURL, 1)
		if msg := problem(t, functest.Call(t, http.MethodPost, c.url, body), c.field); !strings.Contains(msg, c.message) {
			t.Errorf("vllm_url %q: %s problem %q, want one saying %q", c.vllmURL, c.field, msg, c.message)
		}
	}
	controls := strings.Replace(functest.ValidRequest, `"model":"m1"`, `"model":"m1\u0000"`, 1)
	if msg := problem(t, functest.Call(t, http.MethodPost, star, controls), "agents[0].model"); !strings.Contains(msg, "control characters") {
		t.Errorf("a model name with NUL: problem %q", msg)
	}
	if len(stack.Ray.Jobs()) != 0 {
		t.Fatalf("refused requests reached Ray: %d jobs", len(stack.Ray.Jobs()))
	}

	body := strings.Replace(functest.ValidRequest, functest.ModelServer, "HTTPS://API.DeepInfra.com.:443/v1/openai/", 1)
	if got := functest.Call(t, http.MethodPost, deepinfra, body); got.Status != http.StatusAccepted {
		t.Fatalf("an allowed model server: %d %s", got.Status, got.Body)
	}
	jobs := stack.Ray.Jobs()
	if len(jobs) != 1 {
		t.Fatalf("%d Ray jobs, want 1", len(jobs))
	}
	var sent struct {
		VLLMURL string `json:"vllm_url"`
		Policy  struct {
			AllowedOrigins []string `json:"allowed_origins"`
			MaxAnswerBytes int      `json:"max_answer_bytes"`
		} `json:"policy"`
	}
	if err := json.Unmarshal([]byte(jobs[0].EnvVars["RAY_EXECUTOR_REQUEST"]), &sent); err != nil ||
		sent.VLLMURL != "https://api.deepinfra.com:443/v1/openai" || len(sent.Policy.AllowedOrigins) != 1 ||
		sent.Policy.AllowedOrigins[0] != "https://api.deepinfra.com:443" || sent.Policy.MaxAnswerBytes != 65536 {
		t.Fatalf("the job received %+v (%v)", sent, err)
	}
}

// problem checks a 400 problem document naming field and returns that field's message.
func problem(t *testing.T, got functest.Response, field string) string {
	t.Helper()
	got.Problem(t, http.StatusBadRequest)
	var p struct {
		Errors []struct{ Field, Message string }
	}
	if err := json.Unmarshal(got.Body, &p); err != nil {
		t.Fatal(err)
	}
	for _, e := range p.Errors {
		if e.Field == field {
			return e.Message
		}
	}
	t.Errorf("no problem about %s in %s", field, got.Body)
	return ""
}
