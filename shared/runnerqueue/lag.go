package runnerqueue

import (
	"context"
	"strings"

	"github.com/rayexecutor/functions/shared/app"
)

var _ app.RunnerBacklog = (*Queue)(nil)

// runnerGroup is the consumer group the runners read the queue with ("group" in the contract).
const runnerGroup = "runners"

// Lag counts the attempts enqueued that no runner has taken yet, in one round trip: the stream's
// length less the entries delivered and not acknowledged. A runner acknowledges and deletes an
// entry in one step when it is done with it, so the stream holds only those two kinds. XINFO
// GROUPS reports a lag too, but only from Redis 7 and not on miniredis; this works on both.
func (r *Queue) Lag(ctx context.Context) (int64, error) {
	pipe := r.rdb.Pipeline()
	length := pipe.XLen(ctx, r.queueKey())
	pending := pipe.XPending(ctx, r.queueKey(), runnerGroup)
	_, _ = pipe.Exec(ctx) // each command's own error is read below
	if err := length.Err(); err != nil {
		return 0, redisError(err, "read the runners' queue lag")
	}
	taken := int64(0)
	switch err := pending.Err(); {
	case err == nil:
		taken = pending.Val().Count
	case !strings.HasPrefix(err.Error(), "NOGROUP"):
		return 0, redisError(err, "read the runners' queue lag")
	}
	// No group yet means no runner ever read the queue: every entry waits. An entry deleted while
	// still pending (not something the runner does) could make the difference negative.
	return max(length.Val()-taken, 0), nil
}
