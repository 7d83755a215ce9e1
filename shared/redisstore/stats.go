package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// Stats reads the counters hash: one command, whatever the history holds.
func (s *Store) Stats(ctx context.Context) (deliberation.ExecutionStats, time.Time, error) {
	h, err := s.rdb.HGetAll(ctx, s.keys.stats()).Result()
	if err != nil {
		return deliberation.ExecutionStats{}, time.Time{}, unavailable(err)
	}
	n := func(field string) int64 {
		v, _ := strconv.ParseInt(h[field], 10, 64)
		return v
	}
	st, err := deliberation.NewExecutionStats(n("total"), n("active"), n("completed"), n("failed"), n("cancelled"), n("exec_sum_ms"), n("exec_count"))
	if err != nil {
		return st, time.Time{}, fmt.Errorf("stored statistics: %w", err)
	}
	var since time.Time
	if ms := n("since_ms"); ms > 0 {
		since = time.UnixMilli(ms).UTC()
	}
	return st, since, nil
}
