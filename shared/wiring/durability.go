package wiring

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/redisstore"
)

// durability is the store's wait for replication (REDIS_MIN_REPLICAS_ACK, REDIS_WAIT_TIMEOUT): a
// write fewer replicas confirmed in time stands, and is counted and logged for an operator.
func durability(c config.RedisDurability, log *slog.Logger, reg prometheus.Registerer) (redisstore.Durability, error) {
	if c.Replicas == 0 {
		return redisstore.Durability{}, nil
	}
	short := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "rayexec", Name: "redis_replication_short_total",
		Help: "Writes acknowledged to a caller that fewer replicas than REDIS_MIN_REPLICAS_ACK confirmed within REDIS_WAIT_TIMEOUT (the write stands).",
	})
	if err := reg.Register(short); err != nil {
		return redisstore.Durability{}, err
	}
	return redisstore.Durability{Replicas: c.Replicas, Timeout: c.Timeout,
		Short: func(ctx context.Context, key string, acked, want int) {
			short.Inc()
			log.WarnContext(ctx, "write confirmed by fewer replicas than asked; it stands, but a failover now may lose it",
				"key", key, "replicas_confirmed", acked, "replicas_wanted", want, "wait_timeout", c.Timeout.String())
		}}, nil
}
