package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"

	json "github.com/goccy/go-json"
	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/deliberation"
)

//go:embed create.lua
var createLua string

var createScript = redis.NewScript(createLua)

// createOwnKeys is how many keys of the deliberation's shard create.lua is given first.
const createOwnKeys = 8

// Create is CreateAs without a caller limit.
func (s *Store) Create(ctx context.Context, d deliberation.Deliberation, req deliberation.Request, maxActive int) (deliberation.Deliberation, bool, error) {
	return s.CreateAs(ctx, d, req, maxActive, 0)
}

// CreateAs stores a new entry with its request and idempotency record, counts it, adds it to its
// caller's active index (d.Caller) and records its submitted event in the outbox (when enabled),
// in one script on the deliberation's shard. The three keys expire together, the retention after
// the entry's deadline, unless the entry finishes first (update.lua).
//
// With a limit on one primary (standalone, Sentinel), the script is also given the other shards'
// stats keys (and, with a caller limit, the caller's index of every other shard) and counts every
// shard itself: the check and the insert are one atomic step, so the limits are exact under any
// race. On Redis Cluster a script must stay in one slot: the other shards' counts are read first
// (one pipelined round trip) and the script adds its own shard's, so creations racing on other
// shards may each see the others' counts from before and pass together (docs/state.md, the
// admission limit).
func (s *Store) CreateAs(ctx context.Context, d deliberation.Deliberation, req deliberation.Request, maxActive, callerMax int) (deliberation.Deliberation, bool, error) {
	entry, err := encodeEntry(d)
	if err != nil {
		return d, false, err
	}
	reqJSON, err := json.Marshal(req)
	if err != nil {
		return d, false, fmt.Errorf("encode request: %w", err)
	}
	records, err := s.outboxRecords(deliberation.Deliberation{}, d)
	if err != nil {
		return d, false, err
	}
	if d.Caller == "" {
		callerMax = 0 // an entry without a caller is counted by no caller
	}
	// Relative to the creation, not an absolute deadline: Redis's clock need not be the caller's.
	lifetime := max(d.Deadline.Sub(d.SubmittedAt), 0) + s.retention
	shard := shardOf(d.ID)
	keys := make([]string, 0, createOwnKeys+2*(Shards-1))
	keys = append(keys, s.keys.entry(d.ID), s.keys.request(d.ID), s.keys.idem(d.ID), s.keys.active(shard),
		s.keys.stats(shard), s.keys.outbox(d.ID), s.keys.outboxIndex(shard), s.keys.callerActive(shard, d.Caller))
	var others, mineElsewhere int64
	otherStats := 0
	if s.cluster {
		if others, mineElsewhere, err = s.countElsewhere(ctx, shard, maxActive > 0, d.Caller, callerMax > 0); err != nil {
			return d, false, err
		}
	} else {
		if maxActive > 0 {
			keys = append(keys, s.keys.otherStats[shard]...)
			otherStats = Shards - 1
		}
		if callerMax > 0 {
			for o := range Shards {
				if o != shard {
					keys = append(keys, s.keys.callerActive(o, d.Caller))
				}
			}
		}
	}
	args := append([]any{entry, reqJSON, req.Fingerprint(), d.SubmittedAt.UnixMilli(), d.ID, maxActive,
		s.retention.Milliseconds(), lifetime.Milliseconds(), others, callerMax, mineElsewhere, otherStats, d.Caller}, records...)
	res, err := s.run(ctx, createScript, keys, args...).StringSlice()
	if err != nil {
		return d, false, unavailable(err)
	}
	switch res[0] {
	case "created":
		return d, true, nil
	case "exists":
		existing, err := decodeEntry([]byte(res[1]))
		return existing, false, err
	case "conflict":
		return d, false, deliberation.Errorf(deliberation.CodeConflict, "Idempotency-Key was used with another request")
	case "too_many":
		return d, false, deliberation.Errorf(deliberation.CodeTooMany, "more than %d deliberations are active", maxActive)
	case "too_many_caller":
		return d, false, deliberation.Errorf(deliberation.CodeTooMany, "caller %s has %d deliberations active, its bound", d.Caller, callerMax)
	}
	return d, false, fmt.Errorf("create script answered %q", res[0])
}

// countElsewhere reads, on Redis Cluster, what create.lua cannot: the active counters of every shard
// but skip and the caller's active indexes there, in one pipelined round trip.
func (s *Store) countElsewhere(ctx context.Context, skip int, global bool, caller string, mine bool) (int64, int64, error) {
	var sum, own int64
	if !global && !mine {
		return 0, 0, nil
	}
	if global {
		n, err := s.activeElsewhere(ctx, skip)
		if err != nil {
			return 0, 0, err
		}
		sum = n
	}
	if mine {
		cmds, err := everyShard(ctx, s.rdb, func(p redis.Pipeliner, shard int) *redis.IntCmd {
			return p.ZCard(ctx, s.keys.callerActive(shard, caller))
		})
		if err != nil {
			return 0, 0, unavailable(err)
		}
		for shard, c := range cmds {
			if shard != skip {
				own += c.Val()
			}
		}
	}
	return sum, own, nil
}

// activeElsewhere sums the active counters of every shard but skip, in one pipelined round trip.
func (s *Store) activeElsewhere(ctx context.Context, skip int) (int64, error) {
	cmds, err := everyShard(ctx, s.rdb, func(p redis.Pipeliner, shard int) *redis.StringCmd {
		return p.HGet(ctx, s.keys.stats(shard), "active")
	})
	if err != nil && !errors.Is(err, redis.Nil) { // a shard without counters yet answers nil
		return 0, unavailable(err)
	}
	var sum int64
	for shard, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return 0, unavailable(err)
		}
		if shard != skip {
			sum += counter(c.Val())
		}
	}
	return sum, nil
}
