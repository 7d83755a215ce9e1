package wiring

import (
	"context"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rayexecutor/functions/internal/fakes/modelserver"
	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/internal/testenv"
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/rayserve"
	"github.com/rayexecutor/functions/shared/transport"
)

// TestServeFunctionDeploysTheRunner, on a real Ray head with no Serve application: a function
// of the serve dispatch started against it deploys the runner it embeds, a deliberation then
// completes through that runner, a second start of the same binary leaves the runner as it is,
// and so does a start of an older binary (a lower revision) after a newer one deployed. Serve's config is one per cluster: the test owns the head (deploy/local/with-ray-head.sh).
func TestServeFunctionDeploysTheRunner(t *testing.T) {
	addr := raytest.RealAddress(t)
	unlock, err := raytest.LockServe(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unlock)
	client, err := rayserve.NewClient(addr, "", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.DeleteAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.DeleteAll(context.Background()) })
	waitApplications(t, client, func(apps map[string]rayserve.Status) bool { return len(apps) == 0 })

	redis := testenv.StartRedis(t)
	model := modelserver.New(t)
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"REDIS_URL": redis.URL(), "RAY_ADDRESS": addr, "RAY_DISPATCH": "serve",
			"REDIS_KEY_PREFIX": raytest.UniqueID("deploy"), "MAX_ACTIVE_DELIBERATIONS": "8",
			"VLLM_URL_ALLOWLIST": model.URL()}[k]
	}, config.Options{NeedsRay: true})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Ray.DeployRunner {
		t.Fatal("the serve dispatch with a RAY_ADDRESS does not deploy the runner by default")
	}

	// start wires the combined function as Start does and returns its backend and check counter.
	start := func() (transport.Backend, *prometheus.Registry, func()) {
		reg := prometheus.NewRegistry()
		backend, closeBackend, err := Adapters(t.Context(), Env{Config: cfg, Ports: transport.Catalogue[transport.FunctionCombined].Ports,
			Log: slog.New(slog.NewTextHandler(t.Output(), nil)), Metrics: reg})
		if err != nil {
			t.Fatal(err)
		}
		return backend, reg, func() { _ = closeBackend(context.Background()) }
	}

	first, checks, stop := start()
	waitCount(t, checks, "deployed", 2*time.Minute)
	timeout, retries := 120, 0
	in := deliberation.RequestInput{TaskID: "t-1:story-1:role-DEV", TaskDescription: "Write a rate limiter", Role: "DEV",
		Constraints: deliberation.ConstraintsInput{StoryID: "story-1", TimeoutSeconds: &timeout, MaxRetries: &retries},
		Agents:      []deliberation.AgentConfig{{AgentID: "dev-1", Role: "DEV", Model: "m-dev"}},
		VLLMURL:     model.URL(), VLLMModel: "judge-model"}
	sub, err := first.Execute.Execute(t.Context(), app.ExecuteCommand{Input: in})
	if err != nil {
		t.Fatal(err)
	}
	report := waitTerminal(t, first, sub.DeliberationID, 4*time.Minute)
	if report.Status != deliberation.StatusCompleted {
		t.Fatalf("deliberation ended %s (%s), want completed through the deployed runner", report.Status, report.ErrorMessage)
	}
	stop()
	deployed := runnerConfig(t, client)

	_, checks, stop = start()
	waitCount(t, checks, "current", time.Minute)
	stop()
	if n := count(t, checks, "deployed"); n != 0 {
		t.Errorf("the second start deployed the runner again (%v times)", n)
	}
	if again := runnerConfig(t, client); again != deployed {
		t.Errorf("the runner's config changed on the second start:\n%s\n%s", deployed, again)
	}

	// A newer binary's runner (a higher revision) is on the cluster: this one leaves it alone.
	newer, name, zip, err := runnerApplication(cfg)
	if err != nil {
		t.Fatal(err)
	}
	newer.Revision++
	if err := client.PutRunner(t.Context(), newer, name, zip); err != nil {
		t.Fatal(err)
	}
	newerConfig := runnerConfig(t, client)
	_, checks, stop = start()
	defer stop()
	waitCount(t, checks, "current", time.Minute)
	if again := runnerConfig(t, client); again != newerConfig || count(t, checks, "deployed") != 0 {
		t.Errorf("an older binary replaced the newer runner:\n%s\n%s", newerConfig, again)
	}
}

// count is the wiring's runner check counter for outcome.
func count(t *testing.T, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "rayexec_runner_deploy_checks_total" {
			continue
		}
		n := 0.0 // summed over the clusters
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					n += m.GetCounter().GetValue()
				}
			}
		}
		return n
	}
	return 0
}

func waitCount(t *testing.T, reg *prometheus.Registry, outcome string, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); count(t, reg, outcome) == 0; time.Sleep(100 * time.Millisecond) {
		if f := count(t, reg, "failed"); f > 0 || time.Now().After(deadline) {
			t.Fatalf("no %s check within %s (failed: %v)", outcome, within, f)
		}
	}
}

func waitApplications(t *testing.T, c *rayserve.Client, ok func(map[string]rayserve.Status) bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(250 * time.Millisecond) {
		apps, err := c.Applications(t.Context())
		if err == nil && ok(apps) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Serve applications %v (%v)", apps, err)
		}
	}
}

func runnerConfig(t *testing.T, c *rayserve.Client) string {
	t.Helper()
	apps, err := c.Applications(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(apps["deliberation-runner"].Config)
	if !strings.Contains(cfg, "gcs://_ray_pkg_") {
		t.Fatalf("the runner's config names no uploaded package: %s", cfg)
	}
	return cfg
}

func waitTerminal(t *testing.T, b transport.Backend, id string, within time.Duration) app.StatusReport {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(200 * time.Millisecond) {
		r, err := b.Status.Status(t.Context(), id)
		if err == nil && r.Status.Terminal() {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliberation %s not terminal within %s: %+v, %v", id, within, r, err)
		}
	}
}

// TestRunnerDeployNeverBlocksStart: against a dashboard that accepts connections and never
// answers, the function is wired at once, and stopping it ends the check.
func TestRunnerDeployNeverBlocksStart(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"REDIS_URL": "redis://127.0.0.1:1", "RAY_ADDRESS": "http://" + ln.Addr().String()}[k]
	}, config.Options{NeedsRay: true})
	if err != nil || !cfg.Ray.DeployRunner {
		t.Fatalf("config: %v, deploy %v", err, cfg.Ray.DeployRunner)
	}
	reg := prometheus.NewRegistry()
	began := time.Now()
	_, closeBackend, err := Adapters(t.Context(), Env{Config: cfg, Ports: transport.Catalogue[transport.FunctionExecute].Ports,
		Log: slog.New(slog.DiscardHandler), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > time.Second {
		t.Errorf("Adapters took %s: the runner's check must not hold up the start", took)
	}
	began = time.Now()
	_ = closeBackend(context.Background())
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("stopping took %s: the runner's check must end with the function", took)
	}
	for _, outcome := range []string{"deployed", "current", "failed"} {
		if n := count(t, reg, outcome); n != 0 {
			t.Errorf("%s = %v: the check of a dashboard that never answered finished", outcome, n)
		}
	}
}

// TestRunnerApplicationScalesBetweenTheBounds: the runner the functions deploy autoscales between
// RAY_RUNNER_MIN_REPLICAS and RAY_RUNNER_MAX_REPLICAS with their delays; equal bounds are that
// many replicas, without autoscaling.
func TestRunnerApplicationScalesBetweenTheBounds(t *testing.T) {
	t.Parallel()
	load := func(vars map[string]string) config.Config {
		t.Helper()
		vars["REDIS_URL"] = "redis://127.0.0.1:1"
		c, err := config.Load(func(k string) string { return vars[k] }, config.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	app, _, _, err := runnerApplication(load(map[string]string{"RAY_RUNNER_MAX_REPLICAS": "5", "RAY_RUNNER_DOWNSCALE_DELAY": "90s"}))
	if err != nil {
		t.Fatal(err)
	}
	want := rayserve.Autoscaling{MinReplicas: 1, MaxReplicas: 5, UpscaleDelay: 2 * time.Second, DownscaleDelay: 90 * time.Second}
	if app.Autoscaling == nil || *app.Autoscaling != want {
		t.Errorf("autoscaling = %+v, want %+v", app.Autoscaling, want)
	}
	app, _, _, err = runnerApplication(load(map[string]string{"RAY_RUNNER_MIN_REPLICAS": "3", "RAY_RUNNER_MAX_REPLICAS": "3"}))
	if err != nil || app.Autoscaling != nil || app.Replicas != 3 {
		t.Errorf("equal bounds: autoscaling %+v, replicas %d (%v); want 3 fixed", app.Autoscaling, app.Replicas, err)
	}
}

// TestRunnerCarriesItsOwnLimits: the runner the functions deploy is told their model servers,
// wake-up and caps in its Serve args, so it refuses a queue entry outside them whoever wrote it
// (shared/rayjob/limits.py); and no key travels there.
func TestRunnerCarriesItsOwnLimits(t *testing.T) {
	t.Parallel()
	c, err := config.Load(func(k string) string {
		return map[string]string{"REDIS_URL": "redis://127.0.0.1:1", "VLLM_URL_ALLOWLIST": "http://vllm:8000,HTTPS://B.example",
			"RAY_EXECUTOR_CALLBACK_URL": "http://status.local/", "MAX_AGENTS": "7", "MAX_ANSWER_BYTES": "1000",
			"VLLM_API_KEYS": "http://vllm:8000=sk-never-in-args"}[k]
	}, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	app, _, _, err := runnerApplication(c)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]any{"allowed_origins": []string{"http://vllm:8000", "https://b.example:443"},
		"callback_url": "http://status.local", "max_agents": 7, "max_answer_bytes": 1000, "max_timeout_s": 86400} {
		if !reflect.DeepEqual(app.Args[name], want) {
			t.Errorf("arg %s = %#v, want %#v", name, app.Args[name], want)
		}
	}
	raw, err := app.Config()
	if err != nil || strings.Contains(string(raw), "sk-never-in-args") {
		t.Fatalf("the Serve config holds a key (or %v)", err)
	}
}
