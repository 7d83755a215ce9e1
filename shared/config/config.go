package config

import (
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// Config is the validated configuration of a function. It is a value: Load builds it once and
// nothing mutates it afterwards.
type Config struct {
	// RedisMode is the shape of the Redis deployment (RedisStandalone, RedisSentinel, RedisCluster);
	// RedisURL is in go-redis's URL form for it, empty only under Options.Local, where the caller
	// starts a Redis of that shape itself (make run). NewRedisClient connects to them.
	RedisMode      string
	RedisURL       string
	RedisKeyPrefix string
	// RedisDurability is how many replicas must acknowledge a write the functions acknowledge to a
	// caller, and how long to wait for them (REDIS_MIN_REPLICAS_ACK, REDIS_WAIT_TIMEOUT).
	RedisDurability RedisDurability
	Retention       time.Duration

	Ray Ray

	ReconcileInterval time.Duration
	PendingLimit      time.Duration

	// NATSURL is empty when lifecycle events are off.
	NATSURL           string
	NATSSubjectPrefix string
	NATSStream        string

	// APIToken is the bearer token callers must present; empty disables authentication.
	APIToken string
	// Callers are the named callers, their quotas, the Broker's caller and the id secret.
	Callers Callers
	// Allowlist names the model servers callers may use; its zero value (the default) allows none.
	Allowlist deliberation.Allowlist
	// ModelKeys are the model servers' keys by canonical origin (VLLM_API_KEYS, VLLM_API_KEYS_FILE,
	// or VLLM_API_KEY for the one allowed origin); nil when none is set. Never logged.
	ModelKeys map[string]string
	keys      keySources
	clusters  clusterSources

	MaxAgents              int
	MaxActiveDeliberations int
	// MaxRunnerQueueLag bounds the attempts waiting in the runners' queue (serve dispatch) before
	// execute refuses; 0 means no bound.
	MaxRunnerQueueLag int
	// MaxAnswerBytes bounds each model answer the job keeps.
	MaxAnswerBytes int
	MaxBodyBytes   int64

	LogLevel  slog.Level
	LogFormat string

	Tracing Tracing
}

// Tracing is what the functions need to know of the OpenTelemetry SDK's own variables: whether an
// OTLP endpoint is set at all (without one, nothing is traced) and which protocol to speak. The
// SDK reads the rest itself (OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER, headers, timeouts).
type Tracing struct {
	// Endpoint is OTEL_EXPORTER_OTLP_ENDPOINT, TracesEndpoint OTEL_EXPORTER_OTLP_TRACES_ENDPOINT.
	Endpoint, TracesEndpoint string
	// Protocol is OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf" (the default) or "grpc".
	Protocol string
}

// Enabled says whether spans are exported: only when an endpoint is set.
func (t Tracing) Enabled() bool { return t.Endpoint != "" || t.TracesEndpoint != "" }

// RunnerEnv is what the deliberation runner's replicas get of it (the Serve application's
// env_vars), so its spans go where the functions' go: the endpoints that are set. The runner
// exports over http/protobuf whatever Protocol says.
func (t Tracing) RunnerEnv() map[string]string {
	env := map[string]string{}
	if t.Endpoint != "" {
		env["OTEL_EXPORTER_OTLP_ENDPOINT"] = t.Endpoint
	}
	if t.TracesEndpoint != "" {
		env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = t.TracesEndpoint
	}
	return env
}

// How deliberations reach Ray (RAY_DISPATCH).
const (
	// DispatchServe enqueues them for the deliberation runner, a Ray Serve application on warm
	// workers; only Redis is on the request path.
	DispatchServe = "serve"
	// DispatchJobs submits one Ray job per attempt through the Jobs REST API.
	DispatchJobs = "jobs"
)

// Ray is how to reach the Ray cluster and what to submit to it.
type Ray struct {
	// Dispatch is DispatchServe or DispatchJobs.
	Dispatch string
	// Address is the dashboard URL; empty only when the function does not talk to Ray, or under
	// Options.Local where the caller starts a Ray head of its own. With several clusters it is the
	// first one's.
	Address   string
	AuthToken string
	// Clusters are the Ray clusters work goes to (RAY_CLUSTERS, RAY_CLUSTERS_FILE), or the one of
	// RAY_ADDRESS named RAY_CLUSTER_NAME; never empty after Load.
	Clusters []RayCluster
	// PoolModels maps a pool to the models whose requests go to it when they name no pool
	// (RAY_POOL_MODELS); nil when none is set.
	PoolModels map[string][]string
	// Entrypoint replaces the uploaded job for images that bake the job in.
	Entrypoint string
	// NumCPUs and Resources are the entrypoint resources of the job driver; zero and empty
	// reserve nothing, which suits a driver that only waits on I/O.
	NumCPUs   float64
	Resources map[string]float64
	// CallbackURL is where the job sends its finished wake-up; empty for none.
	CallbackURL string
	// DeployRunner makes the functions that dispatch put the deliberation runner they embed on
	// the cluster at Address (RAY_SERVE_DEPLOY): true by default in the serve dispatch when
	// Address is set, false otherwise.
	DeployRunner bool
	// RunnerRedisURL is the Redis the runner's replicas read, as the Ray pods reach it
	// (RAY_RUNNER_REDIS_URL); Load sets it to RedisURL when not given.
	RunnerRedisURL string
	// RunnerMinReplicas and RunnerMaxReplicas bound the runner's replicas, which Serve scales
	// with the queue between them (RAY_RUNNER_MIN_REPLICAS, RAY_RUNNER_MAX_REPLICAS); equal
	// bounds keep that many replicas, without autoscaling. The minimum is at least 1: Serve
	// cannot start a queue consumer's first replica on the queue alone (docs/ray.md).
	RunnerMinReplicas, RunnerMaxReplicas int
	// RunnerUpscaleDelay and RunnerDownscaleDelay are how long Serve's wish for more, or fewer,
	// runner replicas must last before it acts (RAY_RUNNER_UPSCALE_DELAY, RAY_RUNNER_DOWNSCALE_DELAY).
	RunnerUpscaleDelay, RunnerDownscaleDelay time.Duration
}

// Options say what the caller needs of the environment.
type Options struct {
	// NeedsRay makes RAY_ADDRESS required in the jobs dispatch (the execute and status functions
	// submit and watch Ray jobs).
	NeedsRay bool
	// Local allows an empty REDIS_URL and RAY_ADDRESS: the caller (the local stack, a test) starts
	// servers of its own instead, of the shape REDIS_MODE names. Deployments never set it, so a forgotten variable fails at start.
	Local bool
}

// Load reads every variable through getenv (os.Getenv, or the map func-go hands to Start) and
// validates all of them, returning an *Error that lists every problem.
func Load(getenv func(string) string, opts Options) (Config, error) {
	var c Config
	var errs Error
	// serveDeploy is RAY_SERVE_DEPLOY as parsed ("true", "false", or "" for the default), which
	// depends on RAY_DISPATCH and RAY_ADDRESS and so is settled after the loop.
	var serveDeploy string
	given := map[string]bool{}
	for _, v := range variables {
		raw := trimmed(getenv(v.Name))
		given[v.Name] = raw != ""
		if raw == "" {
			raw = v.Default
		}
		if msg := unresolvedPlaceholder(v.Name, raw); msg != "" {
			errs.add(v.Name, msg)
			continue
		}
		if v.Name == "RAY_SERVE_DEPLOY" {
			if msg := parseOptionalBool(raw, &serveDeploy); msg != "" {
				errs.add(v.Name, msg)
			}
			continue
		}
		if msg := v.set(&c, raw); msg != "" {
			errs.add(v.Name, msg)
		}
	}
	switch {
	case given["REDIS_URL"]:
	case !opts.Local:
		errs.add("REDIS_URL", "is required")
	}
	settleClusters(&c, c.clusters, getenv, &errs)
	c.clusters = clusterSources{}
	if c.Ray.Address == "" && opts.NeedsRay && c.Ray.Dispatch == DispatchJobs && !opts.Local && !errs.has("RAY_CLUSTERS") && !errs.has("RAY_CLUSTERS_FILE") {
		errs.add("RAY_ADDRESS", "is required")
	}
	checkClusterAddresses(&c, given, opts, &errs)
	if !errs.has("VLLM_URL_ALLOWLIST") {
		combineKeys(&c, &errs)
	}
	c.keys = keySources{}
	if c.Ray.RunnerRedisURL == "" {
		c.Ray.RunnerRedisURL = c.RedisURL
	}
	if c.Ray.RunnerMinReplicas > 0 && c.Ray.RunnerMaxReplicas > 0 && c.Ray.RunnerMaxReplicas < c.Ray.RunnerMinReplicas {
		errs.add("RAY_RUNNER_MAX_REPLICAS", fmt.Sprintf("is %d, below RAY_RUNNER_MIN_REPLICAS (%d)", c.Ray.RunnerMaxReplicas, c.Ray.RunnerMinReplicas))
	}
	deploy := c.Ray.Dispatch == DispatchServe && serveDeploy != "false"
	if serveDeploy == "true" && deploy && c.Ray.Address == "" && !opts.Local {
		errs.add("RAY_SERVE_DEPLOY", "is true, which needs RAY_ADDRESS: the dashboard the runner is deployed through")
	}
	c.Ray.DeployRunner = deploy && c.Ray.Address != ""
	checkCallers(&c, &errs)
	if len(errs.Problems) > 0 {
		return Config{}, &errs
	}
	return c, nil
}

// funcReference is a func.yaml placeholder that names where a value comes from (a key of a
// Secret or ConfigMap, a variable of the shell running func), and nothing secret itself.
var funcReference = regexp.MustCompile(`^\{\{\s*(secret|configMap|env)\s*:\s*([-._a-zA-Z0-9']+)(?:\s*:\s*([-._a-zA-Z0-9]+))?\s*\}\}$`)

// unresolvedPlaceholder reports a value that is still a func placeholder ({{ ... }}): func deploy
// turns {{ secret:NAME:KEY }} and {{ configMap:NAME:KEY }} into references a cluster resolves, and
// func run resolves {{ env:VAR }} from its shell, but func run hands Secret and ConfigMap
// placeholders to the function as they are. Such a value is named as what it is, with what to
// do, rather than parsed (a Redis URL "{{ secret:... }}" is no malformed URL). Only a reference is
// shown; anything else between the braces might be a value and is not echoed.
func unresolvedPlaceholder(name, raw string) string {
	if !strings.HasPrefix(raw, "{{") || !strings.HasSuffix(raw, "}}") {
		return ""
	}
	local := "to run it without a cluster, give " + name + " a value (func run -e " + name + "=VALUE), " +
		"or set it in the shell and drop the func.yaml entry (func run -e " + name + "-)"
	m := funcReference.FindStringSubmatch(raw)
	if m == nil {
		return "is an unresolved func placeholder ({{ ... }}) instead of a value: " + local +
			"; deployed, give it a value the cluster resolves"
	}
	if m[1] == "env" {
		return "is the func placeholder " + quoted(raw) + ", which func resolves from the shell it runs in: set " +
			m[2] + " there, or " + local
	}
	where := map[string]string{"secret": "Secret ", "configMap": "ConfigMap "}[m[1]] + m[2]
	if m[3] != "" {
		where += " has the key " + m[3]
	} else {
		where += " exists"
	}
	return "is the func placeholder " + quoted(raw) + ", which only a cluster resolves: " + local +
		"; or deploy it (func deploy) where the " + where
}
