package rayserve

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
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
	scaling := Autoscaling{MinReplicas: 1, MaxReplicas: 4, UpscaleDelay: 2 * time.Second, DownscaleDelay: time.Minute}
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
		{"same revision, autoscaling", deployed(t, with(func(a *RunnerApplication) { a.Autoscaling = &scaling }), "RUNNING"), true},
		{"same revision, a longer drain", deployed(t, with(func(a *RunnerApplication) { a.Args["drain_s"] = 40 }), "RUNNING"), true},
		{"same revision, no pip", deployed(t, with(func(a *RunnerApplication) { a.Pip = nil }), "RUNNING"), true},
		{"same revision, a tracing endpoint", deployed(t, with(func(a *RunnerApplication) {
			a.Env = map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
		}), "RUNNING"), true},
		{"same revision, hashed pip", deployed(t, with(func(a *RunnerApplication) { a.Pip = []string{hashedRedis} }), "RUNNING"), true},
		{"same revision, another cluster's name", deployed(t, with(func(a *RunnerApplication) { a.Cluster = "ray-2" }), "RUNNING"), true},
		{"same revision, other pools", deployed(t, with(func(a *RunnerApplication) { a.Pools = []string{"gpu"} }), "RUNNING"), true},
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

// TestDecideOnAnAutoscaledRunner: a runner deployed with autoscaling is current for the same
// settings, and replaced for other bounds, delays, or fixed replicas.
func TestDecideOnAnAutoscaledRunner(t *testing.T) {
	t.Parallel()
	ours := RunnerApplication{ImportPath: "deliberation_runner:app", WorkingDir: "gcs://_ray_pkg_b.zip", Revision: 5,
		Args:        map[string]any{"redis_url": "redis://redis:6379/0", "key_prefix": "rayexec"},
		Autoscaling: &Autoscaling{MinReplicas: 1, MaxReplicas: 8, UpscaleDelay: 2 * time.Second, DownscaleDelay: time.Minute}}
	with := func(edit func(*Autoscaling)) RunnerApplication {
		a, s := ours, *ours.Autoscaling
		edit(&s)
		a.Autoscaling = &s
		return a
	}
	fixed := ours
	fixed.Autoscaling, fixed.Replicas = nil, 8
	for _, c := range []struct {
		name   string
		have   RunnerApplication
		deploy bool
	}{
		{"the same", ours, false},
		{"another maximum", with(func(s *Autoscaling) { s.MaxReplicas = 4 }), true},
		{"another minimum", with(func(s *Autoscaling) { s.MinReplicas = 2 }), true},
		{"another downscale delay", with(func(s *Autoscaling) { s.DownscaleDelay = time.Second }), true},
		{"fixed replicas", fixed, true},
	} {
		if d := Decide(deployed(t, c.have, "RUNNING"), ours); d.Deploy != c.deploy {
			t.Errorf("%s: got %+v, want deploy %v", c.name, d, c.deploy)
		}
	}
	if d := Decide(deployed(t, fixed, "RUNNING"), fixed); d.Deploy {
		t.Errorf("fixed replicas over the same: %+v", d)
	}
}

// TestConfigOfAnAutoscaledRunner: Serve takes num_replicas or an autoscaling_config, never both;
// the policy is the runner's; the shutdown gives the drain its time; impossible bounds are refused.
func TestConfigOfAnAutoscaledRunner(t *testing.T) {
	t.Parallel()
	a := RunnerApplication{ImportPath: "deliberation_runner:app", Args: map[string]any{"redis_url": "redis://r:6379/0", "drain_s": 5.5},
		Autoscaling: &Autoscaling{MinReplicas: 1, MaxReplicas: 4, UpscaleDelay: 0, DownscaleDelay: 30 * time.Second}}
	raw, err := a.Config()
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Applications []struct {
			AutoscalingPolicy map[string]any   `json:"autoscaling_policy"`
			Deployments       []map[string]any `json:"deployments"`
		} `json:"applications"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	d := c.Applications[0].Deployments[0]
	scaling, _ := d["autoscaling_config"].(map[string]any)
	policy := c.Applications[0].AutoscalingPolicy
	if _, fixed := d["num_replicas"]; fixed || scaling["min_replicas"] != 1.0 || scaling["max_replicas"] != 4.0 ||
		scaling["downscale_delay_s"] != 30.0 || policy["policy_function"] != "autoscaling:queue_app_policy" || scaling["policy"] != nil {
		t.Errorf("deployment = %v", d)
	}
	if d["graceful_shutdown_timeout_s"] != 15.5 {
		t.Errorf("graceful_shutdown_timeout_s = %v, want drain_s 5.5 + 10", d["graceful_shutdown_timeout_s"])
	}
	for _, bounds := range [][2]int{{0, 4}, {3, 2}} {
		a.Autoscaling = &Autoscaling{MinReplicas: bounds[0], MaxReplicas: bounds[1]}
		if _, err := a.Config(); err == nil {
			t.Errorf("replicas between %d and %d accepted", bounds[0], bounds[1])
		}
	}
}

// TestConfigCarriesTheRunnerEnv: the replicas get Env beside the revision, and Decide reads the
// revision back from among them.
func TestConfigCarriesTheRunnerEnv(t *testing.T) {
	t.Parallel()
	a := RunnerApplication{ImportPath: "deliberation_runner:app", Revision: 7, Args: map[string]any{"redis_url": "redis://redis:6379/0"},
		Env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}}
	have, err := appOf(a)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", RevisionVariable: "7"}
	if !maps.Equal(have.RuntimeEnv.EnvVars, want) || have.revision() != 7 {
		t.Errorf("env_vars %v, want %v", have.RuntimeEnv.EnvVars, want)
	}
	if Decide(deployed(t, a, "RUNNING"), a).Deploy {
		t.Error("the same runner with its env is replaced")
	}
	if a.Env["OTEL_EXPORTER_OTLP_ENDPOINT"] != "http://collector:4318" || len(a.Env) != 1 {
		t.Errorf("Config changed the caller's Env: %v", a.Env)
	}
}

const hashedRedis = "redis==8.2.0 --hash=sha256:" + "4ff649f10fae5e7e97798fb2a84e84a0a66e98310d75cad2b5a572ce0f9f15a7"

// TestHashedRequirementsAreInstalledWithRequireHashes: requirements that all carry their hashes
// go to Ray as runtime_env's pip dict with --require-hashes (Ray writes the packages into a
// requirements file, so each line's --hash holds); a deployed one reads back equal.
func TestHashedRequirementsAreInstalledWithRequireHashes(t *testing.T) {
	t.Parallel()
	a := RunnerApplication{ImportPath: "deliberation_runner:app", Args: map[string]any{"redis_url": "redis://r:6379/0"},
		Pip: []string{hashedRedis}, Revision: 3}
	raw, err := a.Config()
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Applications []struct {
			RuntimeEnv struct {
				Pip struct {
					Packages []string `json:"packages"`
					Options  []string `json:"pip_install_options"`
				} `json:"pip"`
			} `json:"runtime_env"`
		} `json:"applications"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	pip := c.Applications[0].RuntimeEnv.Pip
	if len(pip.Packages) != 1 || pip.Packages[0] != hashedRedis || !slices.Contains(pip.Options, "--require-hashes") {
		t.Fatalf("pip %+v", pip)
	}
	if d := Decide(deployed(t, a, "RUNNING"), a); d.Deploy {
		t.Fatalf("the same hashed runner is deployed again: %s", d.Reason)
	}
	a.Pip = []string{"redis==8.2.0", hashedRedis}
	if raw, _ := a.Config(); !strings.Contains(string(raw), `"pip":["redis==8.2.0",`) {
		t.Fatalf("a list with an unhashed entry is not kept as a list: %s", raw)
	}
}

// TestConfigCarriesTheClusterAndItsPools: the runner of a cluster is told its name and pools in
// its args (what the runner's settings read as cluster and pools), without touching Args; none
// set leaves the runner's defaults.
func TestConfigCarriesTheClusterAndItsPools(t *testing.T) {
	t.Parallel()
	args := map[string]any{"redis_url": "redis://redis:6379/0"}
	argsOf := func(a RunnerApplication) map[string]any {
		t.Helper()
		raw, err := a.Config()
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			Applications []struct {
				Args map[string]any `json:"args"`
			} `json:"applications"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		return c.Applications[0].Args
	}
	a := RunnerApplication{ImportPath: "deliberation_runner:app", Args: args, Cluster: "ray-2", Pools: []string{"gpu", "default"}}
	got := argsOf(a)
	if got["cluster"] != "ray-2" || !slices.Equal(toStrings(got["pools"]), []string{"gpu", "default"}) {
		t.Errorf("args %v: want cluster ray-2 and pools [gpu default]", got)
	}
	if len(args) != 1 {
		t.Errorf("Config changed the caller's args: %v", args)
	}
	if got := argsOf(RunnerApplication{ImportPath: "deliberation_runner:app", Args: args}); got["cluster"] != nil || got["pools"] != nil {
		t.Errorf("no cluster given, yet args %v", got)
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, item := range list {
		s, _ := item.(string)
		out = append(out, s)
	}
	return out
}
