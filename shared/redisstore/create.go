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
const createOwnKeys = 7

// Create stores a new entry with its request and idempotency record, counts it and records its
// submitted event in the outbox (when enabled), in one script on the deliberation's shard. The
// three keys expire together, the retention after the entry's deadline, unless the entry finishes
// first (update.lua).
//
// With a limit on one primary (standalone, Sentinel), the script is also given the other shards'
// stats keys and sums every shard's active count itself: the check and the insert are one atomic
// step, so the limit is exact under any race. On Redis Cluster a script must stay in one slot: the
// other shards' active counts are read first (one pipelined round trip) and the script adds its own
// shard's, so creations racing on other shards may each see the others' counts from before and pass
// together (docs/state.md, the admission limit).
func (s *Store) Create(ctx context.Context, d deliberation.Deliberation, req deliberation.Request, maxActive int) (deliberation.Deliberation, bool, error) {
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
	// Relative to the creation, not an absolute deadline: Redis's clock need not be the caller's.
	lifetime := max(d.Deadline.Sub(d.SubmittedAt), 0) + s.retention
	shard := shardOf(d.ID)
	exact := maxActive > 0 && !s.cluster
	size := createOwnKeys
	if exact {
		size += Shards - 1
	}
	keys := make([]string, 0, size)
	keys = append(keys, s.keys.entry(d.ID), s.keys.request(d.ID), s.keys.idem(d.ID), s.keys.active(shard),
		s.keys.stats(shard), s.keys.outbox(d.ID), s.keys.outboxIndex(shard))
	var others int64
	switch {
	case exact:
		keys = append(keys, s.keys.otherStats[shard]...)
	case maxActive > 0: // on Redis Cluster
		if others, err = s.activeElsewhere(ctx, shard); err != nil {
			return d, false, err
		}
	}
	args := append([]any{entry, reqJSON, req.Fingerprint(), d.SubmittedAt.UnixMilli(), d.ID, maxActive,
		s.retention.Milliseconds(), lifetime.Milliseconds(), others}, records...)
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
	}
	return d, false, fmt.Errorf("create script answered %q", res[0])
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
