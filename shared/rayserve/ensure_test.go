package rayserve

import (
	"encoding/json"
	"strings"
	"testing"
)

// deployed is how Serve shows an application deployed with a.
func deployed(t *testing.T, a RunnerApplication, status string) map[string]Status {
	t.Helper()
	raw, err := a.Config()
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Applications []json.RawMessage `json:"applications"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return map[string]Status{a.name(): {Status: status, Config: c.Applications[0]}}
}

func TestDecideConvergesOnTheNewestRunner(t *testing.T) {
	t.Parallel()
	ours := RunnerApplication{ImportPath: "deliberation_runner:app", WorkingDir: "gcs://_ray_pkg_b.zip", Revision: 5,
		Args: map[string]any{"redis_url": "redis://:secret@redis:6379/0", "key_prefix": "rayexec"}, Replicas: 4, Pip: []string{"redis==8.2.0"}}
	with := func(edit func(*RunnerApplication)) RunnerApplication {
		a := ours
		a.Args = map[string]any{"redis_url": ours.Args["redis_url"], "key_prefix": ours.Args["key_prefix"]}
		edit(&a)
		return a
	}
	for _, c := range []struct {
		name   string
		apps   map[string]Status
		deploy bool
	}{
		{"nothing deployed", map[string]Status{}, true},
		{"another application only", map[string]Status{"other": {Status: "RUNNING"}}, true},
		{"the same runner", deployed(t, ours, "RUNNING"), false},
		{"the same runner, still deploying", deployed(t, ours, "DEPLOYING"), false},
		{"the same runner, failed", deployed(t, ours, "DEPLOY_FAILED"), true},
		{"the same runner, unhealthy", deployed(t, ours, "UNHEALTHY"), true},
		{"a newer revision", deployed(t, with(func(a *RunnerApplication) { a.Revision, a.WorkingDir = 6, "gcs://_ray_pkg_c.zip" }), "RUNNING"), false},
		{"a newer revision, failed", deployed(t, with(func(a *RunnerApplication) { a.Revision = 6 }), "DEPLOY_FAILED"), false},
		{"an older revision", deployed(t, with(func(a *RunnerApplication) { a.Revision, a.WorkingDir = 4, "gcs://_ray_pkg_a.zip" }), "RUNNING"), true},
		{"no revision (by hand)", deployed(t, with(func(a *RunnerApplication) { a.Revision = 0 }), "RUNNING"), true},
		{"same revision, other package", deployed(t, with(func(a *RunnerApplication) { a.WorkingDir = "gcs://_ray_pkg_x.zip" }), "RUNNING"), true},
		{"same revision, other prefix", deployed(t, with(func(a *RunnerApplication) { a.Args["key_prefix"] = "x" }), "RUNNING"), true},
		{"same revision, an extra arg", deployed(t, with(func(a *RunnerApplication) { a.Args["heartbeat_s"] = 2 }), "RUNNING"), true},
		{"same revision, fewer replicas", deployed(t, with(func(a *RunnerApplication) { a.Replicas = 1 }), "RUNNING"), true},
		{"same revision, no pip", deployed(t, with(func(a *RunnerApplication) { a.Pip = nil }), "RUNNING"), true},
		{"unreadable config", map[string]Status{"deliberation-runner": {Status: "RUNNING", Config: json.RawMessage(`[`)}}, true},
	} {
		d := Decide(c.apps, ours)
		if d.Deploy != c.deploy || d.Reason == "" {
			t.Errorf("%s: got %+v, want deploy %v with a reason", c.name, d, c.deploy)
		}
		if strings.Contains(d.Reason, "secret") {
			t.Errorf("%s: the reason shows the Redis password: %s", c.name, d.Reason)
		}
	}
}
