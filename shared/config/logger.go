package config

import (
	"io"
	"log/slog"
)

// Logger builds the structured logger the configuration asks for, writing to w.
func (c Config) Logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// LogValue describes the configuration for a start-up log line without its secrets: tokens are
// reported as set or not, URLs lose their user information.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("redis_mode", c.RedisMode),
		slog.String("redis_url", redact(c.RedisURL)),
		slog.String("redis_key_prefix", c.RedisKeyPrefix),
		slog.String("retention", c.Retention.String()),
		slog.String("ray_dispatch", c.Ray.Dispatch),
		slog.String("ray_address", redact(c.Ray.Address)),
		slog.Bool("ray_auth_token_set", c.Ray.AuthToken != ""),
		slog.Any("ray_clusters", c.Ray.clusterSummaries()),
		slog.Bool("ray_job_entrypoint_set", c.Ray.Entrypoint != ""),
		slog.String("callback_url", redact(c.Ray.CallbackURL)),
		slog.Bool("ray_serve_deploy", c.Ray.DeployRunner),
		slog.String("ray_runner_redis_url", redact(c.Ray.RunnerRedisURL)),
		slog.String("reconcile_interval", c.ReconcileInterval.String()),
		slog.String("pending_limit", c.PendingLimit.String()),
		slog.String("nats_url", redact(c.NATSURL)),
		slog.String("nats_subject_prefix", c.NATSSubjectPrefix),
		slog.String("nats_stream", c.NATSStream),
		slog.Bool("api_token_set", c.APIToken != ""),
		slog.String("callers_file", c.Callers.File),
		slog.Int("callers", len(c.Callers.Entries)),
		slog.String("broker_caller", c.Callers.Broker),
		slog.Int("caller_max_active", c.Callers.Quota.MaxActive),
		slog.Float64("caller_submit_rate", c.Callers.Quota.SubmitRate),
		slog.Int("caller_submit_burst", c.Callers.Quota.SubmitBurst),
		slog.Bool("id_secret_set", c.Callers.IDSecret != ""),
		slog.Any("vllm_url_allowlist", c.Allowlist.Origins()),
		slog.Any("vllm_api_key_origins", c.KeyOrigins()),
		slog.Int("max_agents", c.MaxAgents),
		slog.Int("max_active_deliberations", c.MaxActiveDeliberations),
		slog.Int("max_runner_queue_lag", c.MaxRunnerQueueLag),
		slog.Int("max_answer_bytes", c.MaxAnswerBytes),
		slog.Int64("max_body_bytes", c.MaxBodyBytes),
		slog.Bool("tracing", c.Tracing.Enabled()),
	)
}
