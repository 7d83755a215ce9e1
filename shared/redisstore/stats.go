package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// Stats sums the counters of every shard, read with one HGETALL each in one pipeline: a fixed
// number of commands, whatever the history holds. Each shard's hash is a consistent snapshot in
// which total = active + completed + failed + cancelled (a transition moves the counters of its
// own shard only), so the sum of the snapshots holds it too, even though they are not taken at
// one instant.
func (s *Store) Stats(ctx context.Context) (deliberation.ExecutionStats, time.Time, error) {
	cmds, err := everyShard(ctx, s.rdb, func(p redis.Pipeliner, shard int) *redis.MapStringStringCmd {
		return p.HGetAll(ctx, s.keys.stats(shard))
	})
	if err != nil {
		return deliberation.ExecutionStats{}, time.Time{}, unavailable(err)
	}
	var sum [7]int64
	var sinceMS int64
	for _, c := range cmds {
		h := c.Val()
		for i, field := range []string{"total", "active", "completed", "failed", "cancelled", "exec_sum_ms", "exec_count"} {
			sum[i] += counter(h[field])
		}
		if ms := counter(h["since_ms"]); ms > 0 && (sinceMS == 0 || ms < sinceMS) {
			sinceMS = ms
		}
	}
	st, err := deliberation.NewExecutionStats(sum[0], sum[1], sum[2], sum[3], sum[4], sum[5], sum[6])
	if err != nil {
		return st, time.Time{}, fmt.Errorf("stored statistics: %w", err)
	}
	var since time.Time
	if sinceMS > 0 {
		since = time.UnixMilli(sinceMS).UTC()
	}
	return st, since, nil
}

// counter reads a counter as Redis returns it (a string, or nil when absent) as 0 when absent.
func counter(v any) int64 {
	str, _ := v.(string)
	n, _ := strconv.ParseInt(str, 10, 64)
	return n
}
