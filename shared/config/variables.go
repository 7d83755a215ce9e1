package config

import (
	"strconv"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// variable is one environment variable: its default and how it lands in a Config. set returns a
// problem message, or "" when the value is fine.
type variable struct {
	Name    string
	Default string
	set     func(c *Config, v string) string
}

// variables are those of docs/configuration.md, in the order problems are reported.
var variables = []variable{
	// REDIS_MODE comes first: the URLs are read in its form.
	{"REDIS_MODE", RedisStandalone, func(c *Config, v string) string { return parseRedisMode(v, &c.RedisMode) }},
	{"REDIS_URL", "", func(c *Config, v string) string { return parseRedisURL(c.RedisMode, v, &c.RedisURL) }},
	{"REDIS_KEY_PREFIX", "rayexec", func(c *Config, v string) string { return parseKeyPrefix(v, &c.RedisKeyPrefix) }},
	{"REDIS_MIN_REPLICAS_ACK", "0", func(c *Config, v string) string { return parseReplicasAck(v, &c.RedisDurability.Replicas) }},
	{"REDIS_WAIT_TIMEOUT", "1s", func(c *Config, v string) string { return parseWaitTimeout(v, &c.RedisDurability.Timeout) }},
	{"RETENTION", "168h", func(c *Config, v string) string { return parseDuration(v, &c.Retention) }},
	{"RAY_DISPATCH", DispatchServe, func(c *Config, v string) string { return parseDispatch(v, &c.Ray.Dispatch) }},
	{"RAY_ADDRESS", "", func(c *Config, v string) string { return parseHTTPURL(v, &c.Ray.Address) }},
	{"RAY_AUTH_TOKEN", "", func(c *Config, v string) string { return parseToken(v, &c.Ray.AuthToken) }},
	// The cluster list and the pools are settled by Load once RAY_ADDRESS is read (clusters.go).
	{"RAY_CLUSTERS", "", parseClustersVar("RAY_CLUSTERS")},
	{"RAY_CLUSTERS_FILE", "", parseClustersVar("RAY_CLUSTERS_FILE")},
	{"RAY_CLUSTER_NAME", "", func(c *Config, v string) string { return parseClusterName(v, &c.clusters.name) }},
	{"RAY_POOL_MODELS", "", func(c *Config, v string) string { return parsePoolModels(v, &c.clusters.poolModels) }},
	{"RAY_JOB_ENTRYPOINT", "", func(c *Config, v string) string { return parseEntrypoint(v, &c.Ray.Entrypoint) }},
	{"RAY_JOB_NUM_CPUS", "", func(c *Config, v string) string { return parseNumCPUs(v, &c.Ray.NumCPUs) }},
	{"RAY_JOB_RESOURCES", "", func(c *Config, v string) string { return parseResources(v, &c.Ray.Resources) }},
	// RAY_SERVE_DEPLOY's default depends on RAY_DISPATCH and RAY_ADDRESS: Load settles it.
	{"RAY_SERVE_DEPLOY", "", nil},
	{"RAY_RUNNER_REDIS_URL", "", func(c *Config, v string) string { return parseRedisURL(c.RedisMode, v, &c.Ray.RunnerRedisURL) }},
	{"RAY_RUNNER_MIN_REPLICAS", "1", func(c *Config, v string) string { return parseMinReplicas(v, &c.Ray.RunnerMinReplicas) }},
	{"RAY_RUNNER_MAX_REPLICAS", "8", func(c *Config, v string) string { return parsePositive(v, maxRunnerReplicas, &c.Ray.RunnerMaxReplicas) }},
	{"RAY_RUNNER_UPSCALE_DELAY", "2s", func(c *Config, v string) string { return parseDelay(v, &c.Ray.RunnerUpscaleDelay) }},
	{"RAY_RUNNER_DOWNSCALE_DELAY", "60s", func(c *Config, v string) string { return parseDelay(v, &c.Ray.RunnerDownscaleDelay) }},
	{"RAY_EXECUTOR_CALLBACK_URL", "", func(c *Config, v string) string { return parseHTTPURL(v, &c.Ray.CallbackURL) }},
	{"RECONCILE_INTERVAL", "30s", func(c *Config, v string) string { return parseDuration(v, &c.ReconcileInterval) }},
	{"PENDING_LIMIT", "15m", func(c *Config, v string) string { return parseDuration(v, &c.PendingLimit) }},
	{"NATS_URL", "", func(c *Config, v string) string { return parseNATSURL(v, &c.NATSURL) }},
	{"NATS_SUBJECT_PREFIX", "ray-executor", func(c *Config, v string) string { return parseSubjectPrefix(v, &c.NATSSubjectPrefix) }},
	{"NATS_STREAM", "RAY_EXECUTOR", func(c *Config, v string) string { return parseStreamName(v, &c.NATSStream) }},
	{"API_TOKEN", "", func(c *Config, v string) string { return parseToken(v, &c.APIToken) }},
	{"CALLERS_FILE", "", func(c *Config, v string) string {
		if v == "" {
			return ""
		}
		return parseCallersFile(v, &c.Callers)
	}},
	{"BROKER_CALLER", "", func(c *Config, v string) string { return parseCallerName(v, &c.Callers.Broker) }},
	{"BROKER_OIDC_ISSUER", "", func(c *Config, v string) string { return parseIssuer(v, &c.Callers.OIDC.Issuer) }},
	{"BROKER_OIDC_AUDIENCE", "", func(c *Config, v string) string { return parseAudience(v, &c.Callers.OIDC.Audience) }},
	{"BROKER_OIDC_SUBJECTS", "", func(c *Config, v string) string { return parseSubjects(v, &c.Callers.OIDC.Subjects) }},
	{"BROKER_OIDC_CA_FILE", "", func(c *Config, v string) string { return parseCAFile(v, &c.Callers.OIDC) }},
	{"CALLER_MAX_ACTIVE", "20", func(c *Config, v string) string { return parseBound(v, 1<<30, &c.Callers.Quota.MaxActive) }},
	{"CALLER_SUBMIT_RATE", "2", func(c *Config, v string) string { return parseRate(v, &c.Callers.Quota.SubmitRate) }},
	{"CALLER_SUBMIT_BURST", "20", func(c *Config, v string) string { return parsePositive(v, 1<<20, &c.Callers.Quota.SubmitBurst) }},
	{"ID_SECRET", "", func(c *Config, v string) string { return parseIDSecret(v, &c.Callers.IDSecret) }},
	{"VLLM_URL_ALLOWLIST", "", func(c *Config, v string) string { return parseAllowlist(v, &c.Allowlist) }},
	// The model servers' keys: read here, bound to the allowlist's origins by Load (modelkeys.go).
	{"VLLM_API_KEY", "", parseSingleKey},
	{"VLLM_API_KEYS", "", parseKeyPairs},
	{"VLLM_API_KEYS_FILE", "", parseKeysFile},
	{"MAX_AGENTS", strconv.Itoa(deliberation.DefaultMaxAgents), func(c *Config, v string) string { return parsePositive(v, 1<<20, &c.MaxAgents) }},
	{"MAX_ACTIVE_DELIBERATIONS", "100", func(c *Config, v string) string { return parsePositive(v, 1<<30, &c.MaxActiveDeliberations) }},
	{"MAX_RUNNER_QUEUE_LAG", "10000", func(c *Config, v string) string { return parseBound(v, 1<<30, &c.MaxRunnerQueueLag) }},
	{"MAX_ANSWER_BYTES", strconv.Itoa(deliberation.DefaultMaxAnswerBytes), func(c *Config, v string) string { return parsePositive(v, 1<<20, &c.MaxAnswerBytes) }},
	{"MAX_BODY_BYTES", strconv.Itoa(256 << 10), func(c *Config, v string) string { return parseBodyBytes(v, &c.MaxBodyBytes) }},
	{"LOG_LEVEL", "info", func(c *Config, v string) string { return parseLogLevel(v, &c.LogLevel) }},
	{"LOG_FORMAT", "json", func(c *Config, v string) string { return parseLogFormat(v, &c.LogFormat) }},
	{"OTEL_EXPORTER_OTLP_ENDPOINT", "", func(c *Config, v string) string { return parseHTTPURL(v, &c.Tracing.Endpoint) }},
	{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "", func(c *Config, v string) string { return parseHTTPURL(v, &c.Tracing.TracesEndpoint) }},
	{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", func(c *Config, v string) string { return parseOTLPProtocol(v, &c.Tracing.Protocol) }},
}

// Variables lists the names of every variable Load reads, so deployment manifests can be checked
// against what the code accepts. LISTEN_ADDRESS belongs to func-go's runtime, not to this list.
func Variables() []string {
	names := make([]string, len(variables))
	for i, v := range variables {
		names[i] = v.Name
	}
	return names
}

// Default returns the default of a variable ("" when it has none or is unknown).
func Default(name string) string {
	for _, v := range variables {
		if v.Name == name {
			return v.Default
		}
	}
	return ""
}
