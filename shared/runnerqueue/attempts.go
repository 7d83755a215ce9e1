package runnerqueue

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// maxListed bounds one List. The index holds only attempts whose marker lives (a deadline plus
// the linger), which the active limit bounds in turn; the cap (an equal part of it per shard)
// keeps a sweep's reads bounded even so, and a later sweep sees the rest once these are deleted.
const maxListed = 5000

// List returns the attempts the queue holds, with their status: those of every shard's index
// whose marker has not expired. It prunes expired members first, and those whose keys are gone.
func (r *Queue) List(ctx context.Context) ([]app.Attempt, error) {
	const what = "list the runners' attempts"
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	_, err := everyShard(ctx, r.rdb, func(p redis.Pipeliner, s int) *redis.IntCmd {
		return p.ZRemRangeByScore(ctx, r.keys.Index(s), "-inf", now)
	})
	if err != nil {
		return nil, redisError(err, what)
	}
	members, err := everyShard(ctx, r.rdb, func(p redis.Pipeliner, s int) *redis.StringSliceCmd {
		return p.ZRange(ctx, r.keys.Index(s), 0, int64(maxListed/Shards)-1) // an equal part each: no shard waits on another
	})
	if err != nil {
		return nil, redisError(err, what)
	}
	var ids []string
	for _, m := range members {
		ids = append(ids, m.Val()...)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	pipe := r.rdb.Pipeline()
	markers := make([]*redis.SliceCmd, len(ids))
	records := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		markers[i] = pipe.HMGet(ctx, r.attemptKey(id), markerFields...)
		records[i] = pipe.Get(ctx, r.resultKey(id))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, redisError(err, what)
	}
	var attempts []app.Attempt
	var gone []string
	for i, id := range ids {
		m := markers[i].Val()
		state, delibID, startedAt, cluster := field(m, 0), field(m, 1), field(m, 2), field(m, 3)
		if state == "" {
			// Deleted but not unlisted (a Delete cut short), or written by hand: nothing to adopt.
			gone = append(gone, id)
			continue
		}
		if !deliberation.ValidID(delibID) {
			continue
		}
		st, err := markerStatus(runnerLabel("status of", id), state, startedAt, cluster)
		if raw, rerr := records[i].Bytes(); rerr == nil {
			var rec runnerRecord
			rec, err = decodeRecord(runnerLabel("result of", id), raw)
			st = recordStatus(rec, cluster)
		}
		if err != nil {
			continue // a record the sweep cannot read: Status reports it when the entry is polled
		}
		attempts = append(attempts, app.Attempt{SubmissionID: id, DeliberationID: delibID, Status: st})
	}
	if len(gone) > 0 {
		_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, id := range gone {
				p.ZRem(ctx, r.keys.Index(ShardOf(id)), id)
			}
			return nil
		})
		if err != nil {
			return nil, redisError(err, what)
		}
	}
	return attempts, nil
}

// markerFields are the fields of an attempt's marker List reads, in this order.
var markerFields = []string{"state", "deliberation_id", "started_at", "cluster"}

func field(values []any, i int) string {
	if i >= len(values) {
		return ""
	}
	s, _ := values[i].(string)
	return s
}

// Delete removes an ended attempt's keys and its index entry in one step. It refuses while the
// attempt is queued or running: the runner would skip it, and the deliberation would wait for
// nothing until its deadline.
func (r *Queue) Delete(ctx context.Context, submissionID string) error {
	what := runnerLabel("delete", submissionID)
	st, err := r.Status(ctx, submissionID)
	if err != nil {
		return err
	}
	if !st.State.Terminal() {
		return deliberation.Errorf(deliberation.CodeConflict, "%s: the attempt is %s", what, st.State)
	}
	pipe := r.rdb.TxPipeline()
	pipe.Del(ctx, r.attemptKey(submissionID), r.resultKey(submissionID))
	pipe.ZRem(ctx, r.keys.Index(ShardOf(submissionID)), submissionID) // the same shard, so one slot
	_, err = pipe.Exec(ctx)
	return redisError(err, what)
}
