package wiring

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"

	"github.com/rayexecutor/functions/shared/redisstore"
)

// warnOfLegacyKeys logs, once at start and off the start's path, when Redis still holds the
// store's layout before shards: the functions would not see what it holds (the counters, the
// active deliberations) until `make migrate-keys` moves it. A Redis that does not answer is left
// to the requests to report. Traced, the look is a trace of its own under StartupLookSpan, so its
// Redis command is not a lone root span nobody can place.
// StartupLookSpan names the span of the look for the layout before shards (a trace of its own).
const StartupLookSpan = "function start: look for the key layout before shards"

func warnOfLegacyKeys(rdb redis.UniversalClient, prefix string, log *slog.Logger) {
	if log == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		ctx, span := otel.Tracer("github.com/rayexecutor/functions/shared/wiring").Start(ctx, StartupLookSpan)
		defer span.End()
		if found, err := redisstore.LegacyKeys(ctx, rdb, prefix); err == nil && found {
			log.Warn("redis holds the key layout before shards: run make migrate-keys (docs/state.md)", "redis_key_prefix", prefix)
		}
	}()
}
