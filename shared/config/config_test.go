package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{"REDIS_URL": "redis://127.0.0.1:6379/0", "RAY_ADDRESS": "http://127.0.0.1:8265/"}), Options{NeedsRay: true})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"redis url", c.RedisURL, "redis://127.0.0.1:6379/0"},
		{"prefix", c.RedisKeyPrefix, "rayexec"},
		{"retention", c.Retention, 168 * time.Hour},
		{"ray address without trailing slash", c.Ray.Address, "http://127.0.0.1:8265"},
		{"num cpus unset", c.Ray.NumCPUs, 0.0},
		{"reconcile", c.ReconcileInterval, 30 * time.Second},
		{"pending", c.PendingLimit, 15 * time.Minute},
		{"nats off", c.NATSURL, ""},
		{"subject prefix", c.NATSSubjectPrefix, "ray-executor"},
		{"stream", c.NATSStream, "RAY_EXECUTOR"},
		{"max agents", c.MaxAgents, 16},
		{"max active", c.MaxActiveDeliberations, 100},
		{"max runner queue lag", c.MaxRunnerQueueLag, 10000},
		{"max body", c.MaxBodyBytes, int64(256 << 10)},
		{"log level", c.LogLevel, slog.LevelInfo},
		{"log format", c.LogFormat, "json"},
		{"allowlist: none", len(c.Allowlist.Origins()), 0},
		{"max answer bytes", c.MaxAnswerBytes, 65536},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoadValues(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{
		"REDIS_URL": "rediss://user:pw@redis.example:6380/2", "REDIS_KEY_PREFIX": "team:a",
		"RETENTION": "24h", "RAY_ADDRESS": "https://ray.example", "RAY_AUTH_TOKEN": "tok-1",
		"RAY_JOB_ENTRYPOINT": "python /opt/job.py", "RAY_JOB_NUM_CPUS": "0.25",
		"RAY_JOB_RESOURCES": `{"head": 0.01}`, "RAY_EXECUTOR_CALLBACK_URL": "http://status.default.svc",
		"RECONCILE_INTERVAL": "5s", "PENDING_LIMIT": "2m", "NATS_URL": "nats://a:4222, tls://b:4443",
		"NATS_SUBJECT_PREFIX": "team.a", "NATS_STREAM": "TEAM_A", "API_TOKEN": "s3cret",
		"VLLM_URL_ALLOWLIST": "http://vllm:8000, https://models.example", "MAX_AGENTS": " 4 ",
		"MAX_ACTIVE_DELIBERATIONS": "1000", "MAX_BODY_BYTES": "1048576", "LOG_LEVEL": "DEBUG", "LOG_FORMAT": "text",
		"MAX_ANSWER_BYTES": "4096", "MAX_RUNNER_QUEUE_LAG": "0",
	}), Options{NeedsRay: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.Ray.NumCPUs != 0.25 || c.Ray.Resources["head"] != 0.01 || c.MaxAgents != 4 || c.LogLevel != slog.LevelDebug {
		t.Errorf("values not parsed: %+v", c)
	}
	if want := []string{"http://vllm:8000", "https://models.example:443"}; !slices.Equal(c.Allowlist.Origins(), want) {
		t.Errorf("allowlist = %v, want %v", c.Allowlist.Origins(), want)
	}
	if c.MaxAnswerBytes != 4096 {
		t.Errorf("max answer bytes = %d", c.MaxAnswerBytes)
	}
	if c.MaxActiveDeliberations != 1000 || c.PendingLimit != 2*time.Minute || c.MaxRunnerQueueLag != 0 {
		t.Errorf("limits not parsed: %+v", c)
	}
}

// TestLoadReportsEveryProblem is what an operator sees: one message naming every bad variable.
func TestLoadReportsEveryProblem(t *testing.T) {
	t.Parallel()
	bad := map[string]string{
		"REDIS_MODE": "replicated", "REDIS_URL": "bogus", "REDIS_KEY_PREFIX": "a b", "REDIS_MIN_REPLICAS_ACK": "x", "REDIS_WAIT_TIMEOUT": "0s", "RETENTION": "-1h", "RAY_ADDRESS": "ftp://ray",
		"RAY_AUTH_TOKEN": "has space", "RAY_CLUSTERS": "{", "RAY_CLUSTERS_FILE": "/nonexistent/clusters.json",
		"RAY_CLUSTER_NAME": "Bad Name", "RAY_POOL_MODELS": "[]", "RAY_JOB_ENTRYPOINT": "a\nb", "RAY_JOB_NUM_CPUS": "-1",
		"RAY_JOB_RESOURCES": "[1]", "RAY_EXECUTOR_CALLBACK_URL": "status", "RECONCILE_INTERVAL": "0s",
		"PENDING_LIMIT": "soon", "NATS_URL": "http://nats", "NATS_SUBJECT_PREFIX": "a.*",
		"NATS_STREAM": "a.b", "API_TOKEN": "tab\there", "VLLM_URL_ALLOWLIST": "http://ok:1,,http://x/path",
		"VLLM_API_KEY": "sk one", "VLLM_API_KEYS": "sk-only", "VLLM_API_KEYS_FILE": "/nonexistent/keys",
		"MAX_AGENTS": "-1", "MAX_ACTIVE_DELIBERATIONS": "many", "MAX_RUNNER_QUEUE_LAG": "-1", "MAX_ANSWER_BYTES": "0", "MAX_BODY_BYTES": "10", "LOG_LEVEL": "loud",
		"LOG_FORMAT": "xml", "RAY_DISPATCH": "actors", "RAY_SERVE_DEPLOY": "maybe", "RAY_RUNNER_REDIS_URL": "http://redis",
		"RAY_RUNNER_MIN_REPLICAS": "0", "RAY_RUNNER_MAX_REPLICAS": "1001", "RAY_RUNNER_UPSCALE_DELAY": "-1s",
		"RAY_RUNNER_DOWNSCALE_DELAY": "later", "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "grpc://collector", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
		"CALLERS_FILE": "/nonexistent/callers.json", "BROKER_CALLER": "a b", "CALLER_MAX_ACTIVE": "-2",
		"CALLER_SUBMIT_RATE": "fast", "CALLER_SUBMIT_BURST": "0", "ID_SECRET": "short",
		"BROKER_OIDC_ISSUER": "http://k8s", "BROKER_OIDC_AUDIENCE": "a b", "BROKER_OIDC_SUBJECTS": ",", "BROKER_OIDC_CA_FILE": "/nonexistent/ca.crt",
	}
	_, err := Load(env(bad), Options{NeedsRay: true})
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("want *Error, got %v", err)
	}
	var got []string
	for _, p := range cerr.Problems {
		got = append(got, p.Variable)
	}
	if !slices.Equal(got, Variables()) {
		t.Errorf("problems for %v, want one per variable %v", got, Variables())
	}
	msg := err.Error()
	for _, want := range []string{
		"REDIS_URL: must be a redis:// or rediss:// URL",
		`REDIS_MODE: must be standalone, sentinel or cluster, got "replicated"`,
		`MAX_AGENTS: must be a positive integer, got "-1"`,
		`MAX_RUNNER_QUEUE_LAG: must be 0 (no bound) or a positive integer, got "-1"`,
		`RETENTION: must be a positive duration such as 30s, 15m or 168h, got "-1h"`,
		"VLLM_URL_ALLOWLIST: entry 2 is empty; entry 3:",
		"RAY_RUNNER_MIN_REPLICAS: must be at least 1: Serve cannot start the runner's first replica on the queue alone",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

func TestLoadRequired(t *testing.T) {
	t.Parallel()
	cases := []struct {
		dispatch string
		opts     Options
		want     []string
	}{
		{"jobs", Options{NeedsRay: true}, []string{"REDIS_URL", "RAY_ADDRESS"}},
		// The runner is fed through Redis: the functions need no Ray address in serve mode.
		{"", Options{NeedsRay: true}, []string{"REDIS_URL"}},
		{"jobs", Options{}, []string{"REDIS_URL"}},
		{"jobs", Options{NeedsRay: true, Local: true}, nil},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s %+v", tc.dispatch, tc.opts), func(t *testing.T) {
			_, err := Load(env(map[string]string{"RAY_DISPATCH": tc.dispatch}), tc.opts)
			var got []string
			var cerr *Error
			if errors.As(err, &cerr) {
				for _, p := range cerr.Problems {
					if p.Message != "is required" {
						t.Errorf("unexpected problem %s", p)
					}
					got = append(got, p.Variable)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("required problems %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSecretsNeverEchoed guards the rule that configuration errors and the start-up log line carry
// no secret: they end up in logs.
func TestSecretsNeverEchoed(t *testing.T) {
	t.Parallel()
	const secret = "hunter2hunter2"
	_, err := Load(env(map[string]string{
		"REDIS_URL": "redis://u:" + secret + "@host:6379/notadb", "RAY_ADDRESS": "gopher://u:" + secret + "@ray",
		"API_TOKEN": secret + " x", "RAY_AUTH_TOKEN": secret + "\x00", "NATS_URL": "http://u:" + secret + "@n",
	}), Options{NeedsRay: true})
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("error must exist and hide the secret: %v", err)
	}
	c, err := Load(env(map[string]string{
		"REDIS_URL": "redis://u:" + secret + "@host:6379", "RAY_ADDRESS": "http://u:" + secret + "@ray",
		"API_TOKEN": secret, "RAY_AUTH_TOKEN": secret, "NATS_URL": "nats://u:" + secret + "@n:4222",
	}), Options{NeedsRay: true})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	c.Logger(&buf).Info("configuration", "config", c)
	if strings.Contains(buf.String(), secret) {
		t.Errorf("log line leaks a secret: %s", buf.String())
	}
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("json log line expected: %v", err)
	}
	if cfg := line["config"].(map[string]any); cfg["api_token_set"] != true {
		t.Errorf("log line should say the token is set: %v", cfg)
	}
}

func TestLoggerLevelAndFormat(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{"LOG_LEVEL": "warn", "LOG_FORMAT": "text"}), Options{Local: true})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := c.Logger(&buf)
	log.Info("hidden")
	log.Warn("shown", "deliberation_id", "delib-x")
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.Contains(out, "deliberation_id=delib-x") {
		t.Errorf("text logger at warn wrote %q", out)
	}
}

func TestVariablesHaveTheirDefaults(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{"RETENTION": "168h", "MAX_BODY_BYTES": "262144", "LOG_FORMAT": "json", "REDIS_URL": ""} {
		if got := Default(name); got != want {
			t.Errorf("Default(%s) = %q, want %q", name, got, want)
		}
	}
}

// TestEveryVariableIsDocumented: an operator finds every variable the functions read in
// docs/configuration.md.
func TestEveryVariableIsDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(Variables()) < 20 {
		t.Fatalf("Variables() lists %d variables", len(Variables()))
	}
	for _, name := range Variables() {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/configuration.md does not document %s", name)
		}
	}
}

// TestServeDeploy: the functions deploy the runner by default in the serve dispatch when they
// know the dashboard, never in the jobs dispatch, and RAY_SERVE_DEPLOY turns it off or demands it.
func TestServeDeploy(t *testing.T) {
	t.Parallel()
	const ray = "http://ray:8265"
	for _, c := range []struct {
		env     map[string]string
		want    bool
		problem bool
	}{
		{map[string]string{"RAY_ADDRESS": ray}, true, false},
		{map[string]string{"RAY_ADDRESS": ray, "RAY_DISPATCH": "SERVE"}, true, false},
		{map[string]string{}, false, false},
		{map[string]string{"RAY_ADDRESS": ray, "RAY_DISPATCH": "jobs"}, false, false},
		{map[string]string{"RAY_ADDRESS": ray, "RAY_DISPATCH": "jobs", "RAY_SERVE_DEPLOY": "true"}, false, false},
		{map[string]string{"RAY_ADDRESS": ray, "RAY_SERVE_DEPLOY": "false"}, false, false},
		{map[string]string{"RAY_ADDRESS": ray, "RAY_SERVE_DEPLOY": "0"}, false, false},
		{map[string]string{"RAY_ADDRESS": ray, "RAY_SERVE_DEPLOY": "true"}, true, false},
		{map[string]string{"RAY_SERVE_DEPLOY": "true"}, false, true},
		{map[string]string{"RAY_ADDRESS": ray, "RAY_SERVE_DEPLOY": "sometimes"}, false, true},
	} {
		cfg, err := Load(env(withRedis(c.env)), Options{NeedsRay: true})
		var cerr *Error
		if c.problem {
			if !errors.As(err, &cerr) || cerr.Problems[0].Variable != "RAY_SERVE_DEPLOY" {
				t.Errorf("%v: got %v, want a problem with RAY_SERVE_DEPLOY", c.env, err)
			}
			continue
		}
		if err != nil || cfg.Ray.DeployRunner != c.want {
			t.Errorf("%v: DeployRunner %v (%v), want %v", c.env, cfg.Ray.DeployRunner, err, c.want)
		}
	}
}

// TestRunnerRedisURL: the runner reads the functions' Redis unless the Ray pods reach it by
// another address.
func TestRunnerRedisURL(t *testing.T) {
	t.Parallel()
	cfg, err := Load(env(withRedis(nil)), Options{})
	if err != nil || cfg.Ray.RunnerRedisURL != cfg.RedisURL || cfg.RedisURL == "" {
		t.Errorf("default: %q for REDIS_URL %q (%v), want the same", cfg.Ray.RunnerRedisURL, cfg.RedisURL, err)
	}
	cfg, err = Load(env(withRedis(map[string]string{"RAY_RUNNER_REDIS_URL": "redis://10.0.0.5:6379/2"})), Options{})
	if err != nil || cfg.Ray.RunnerRedisURL != "redis://10.0.0.5:6379/2" {
		t.Errorf("given: %q (%v)", cfg.Ray.RunnerRedisURL, err)
	}
	if _, err := Load(env(withRedis(map[string]string{"RAY_RUNNER_REDIS_URL": "http://redis"})), Options{}); err == nil {
		t.Error("a RAY_RUNNER_REDIS_URL that is no Redis URL was accepted")
	}
}

func withRedis(m map[string]string) map[string]string {
	out := map[string]string{"REDIS_URL": "redis://127.0.0.1:6379/0"}
	maps.Copy(out, m)
	return out
}

// TestRunnerQueueLagBound: 0 turns the bound off; anything else is a positive count.
func TestRunnerQueueLagBound(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]int{"0": 0, "1": 1, " 250 ": 250} {
		c, err := Load(env(withRedis(map[string]string{"MAX_RUNNER_QUEUE_LAG": v})), Options{})
		if err != nil || c.MaxRunnerQueueLag != want {
			t.Errorf("MAX_RUNNER_QUEUE_LAG=%q: %d (%v), want %d", v, c.MaxRunnerQueueLag, err, want)
		}
	}
	for _, v := range []string{"-1", "1073741825", "lots", "1e3"} {
		if _, err := Load(env(withRedis(map[string]string{"MAX_RUNNER_QUEUE_LAG": v})), Options{}); err == nil {
			t.Errorf("MAX_RUNNER_QUEUE_LAG=%q was accepted", v)
		}
	}
}

// TestRunnerReplicaBounds: the runner scales between its bounds, 1 to 8 by default; a maximum
// below the minimum is refused, naming both.
func TestRunnerReplicaBounds(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{"REDIS_URL": "redis://r:6379"}), Options{})
	if err != nil || c.Ray.RunnerMinReplicas != 1 || c.Ray.RunnerMaxReplicas != 8 ||
		c.Ray.RunnerUpscaleDelay != 2*time.Second || c.Ray.RunnerDownscaleDelay != time.Minute {
		t.Fatalf("defaults: %+v, %v", c.Ray, err)
	}
	c, err = Load(env(map[string]string{"REDIS_URL": "redis://r:6379", "RAY_RUNNER_MIN_REPLICAS": "3", "RAY_RUNNER_MAX_REPLICAS": "3",
		"RAY_RUNNER_UPSCALE_DELAY": "0s"}), Options{})
	if err != nil || c.Ray.RunnerMinReplicas != 3 || c.Ray.RunnerMaxReplicas != 3 || c.Ray.RunnerUpscaleDelay != 0 {
		t.Fatalf("fixed replicas: %+v, %v", c.Ray, err)
	}
	_, err = Load(env(map[string]string{"REDIS_URL": "redis://r:6379", "RAY_RUNNER_MIN_REPLICAS": "4", "RAY_RUNNER_MAX_REPLICAS": "2"}), Options{})
	if err == nil || !strings.Contains(err.Error(), "RAY_RUNNER_MAX_REPLICAS: is 2, below RAY_RUNNER_MIN_REPLICAS (4)") {
		t.Fatalf("max below min: %v", err)
	}
}
