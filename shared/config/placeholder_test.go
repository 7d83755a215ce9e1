package config

import (
	"errors"
	"strings"
	"testing"
)

// TestLoadNamesFuncPlaceholders: `func run` hands func.yaml's {{ secret:... }} and
// {{ configMap:... }} values to the function as they are. Each is reported as the placeholder it
// is, naming the variable and what to do, and never parsed as a malformed value.
func TestLoadNamesFuncPlaceholders(t *testing.T) {
	t.Parallel()
	_, err := Load(env(map[string]string{
		"REDIS_URL":        "{{ secret:ray-executor:REDIS_URL }}",
		"RAY_DISPATCH":     " {{ configMap:ray-executor:RAY_DISPATCH }} ",
		"RAY_ADDRESS":      "{{configMap:ray-executor:RAY_ADDRESS}}",
		"MAX_AGENTS":       "{{ env:AGENTS }}",
		"NATS_URL":         "{{ secret:ray-executor }}",
		"API_TOKEN":        "{{ s3cr3t-t0ken value }}",
		"REDIS_KEY_PREFIX": "team-a",
	}), Options{NeedsRay: true})
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("want a configuration error, got %v", err)
	}
	got := map[string]string{}
	for _, p := range cerr.Problems {
		if _, dup := got[p.Variable]; dup {
			t.Errorf("%s reported twice: %v", p.Variable, cerr.Problems)
		}
		got[p.Variable] = p.Message
	}
	want := map[string][]string{
		"REDIS_URL": {`is the func placeholder "{{ secret:ray-executor:REDIS_URL }}"`, "only a cluster resolves",
			"func run -e REDIS_URL=VALUE", "func run -e REDIS_URL-", "func deploy", "Secret ray-executor has the key REDIS_URL"},
		"RAY_DISPATCH": {`"{{ configMap:ray-executor:RAY_DISPATCH }}"`, "ConfigMap ray-executor has the key RAY_DISPATCH"},
		"RAY_ADDRESS":  {`"{{configMap:ray-executor:RAY_ADDRESS}}"`, "func run -e RAY_ADDRESS=VALUE"},
		"MAX_AGENTS":   {`"{{ env:AGENTS }}"`, "set AGENTS there", "func run -e MAX_AGENTS=VALUE"},
		"NATS_URL":     {`"{{ secret:ray-executor }}"`, "Secret ray-executor exists"},
		"API_TOKEN":    {"unresolved func placeholder ({{ ... }})", "func run -e API_TOKEN=VALUE"},
	}
	if len(got) != len(want) {
		t.Errorf("problems %v, want one for each of %d variables", cerr.Problems, len(want))
	}
	for name, parts := range want {
		msg, ok := got[name]
		if !ok {
			t.Errorf("%s not reported: %v", name, cerr.Problems)
			continue
		}
		for _, part := range parts {
			if !strings.Contains(msg, part) {
				t.Errorf("%s: %q lacks %q", name, msg, part)
			}
		}
		for _, parsed := range []string{"must be", "is required"} {
			if strings.Contains(msg, parsed) {
				t.Errorf("%s: a placeholder reported as a bad value: %q", name, msg)
			}
		}
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("an unrecognised placeholder was echoed: %v", err)
	}
}

// TestLoadTakesValuesThatOnlyLookLikePlaceholders: braces elsewhere in a value are the value's.
func TestLoadTakesValuesThatOnlyLookLikePlaceholders(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{"REDIS_URL": "redis://127.0.0.1:6379", "API_TOKEN": "{{abc"}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.APIToken != "{{abc" {
		t.Errorf("API_TOKEN %q", c.APIToken)
	}
}
