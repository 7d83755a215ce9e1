package redisstore

import (
	"context"
	_ "embed"
	"fmt"
	"slices"

	json "github.com/goccy/go-json"
	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

var (
	//go:embed pending.lua
	pendingLua    string
	pendingScript = redis.NewScript(pendingLua)
	//go:embed ack.lua
	ackLua    string
	ackScript = redis.NewScript(ackLua)
)

// outboxRecord is one list element of a deliberation's outbox: the event with its id spelled out,
// so an operator reading Redis sees what is waiting.
type outboxRecord struct {
	ID string `json:"id"`
	deliberation.LifecycleEvent
}

// outboxRecords encodes the events of the transition from before to after, or none when the
// outbox is off.
func (s *Store) outboxRecords(before, after deliberation.Deliberation) ([]any, error) {
	if !s.outbox {
		return nil, nil
	}
	var records []any
	for _, e := range deliberation.Events(before, after) {
		raw, err := json.Marshal(outboxRecord{ID: e.ID(), LifecycleEvent: e})
		if err != nil {
			return nil, fmt.Errorf("encode event %s: %w", e.ID(), err)
		}
		records = append(records, raw)
	}
	return records, nil
}

// Pending returns up to limit of id's undelivered events, oldest first. Reading an outbox that
// expired drops its stale index entry.
func (s *Store) Pending(ctx context.Context, id string, limit int) ([]app.PendingEvent, error) {
	raw, err := pendingScript.Run(ctx, s.rdb, []string{s.keys.outbox(id), s.keys.outboxIndex(shardOf(id))}, max(limit, 1), id).StringSlice()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]app.PendingEvent, len(raw))
	for i, r := range raw {
		var rec outboxRecord
		if err := json.Unmarshal([]byte(r), &rec); err != nil {
			return nil, fmt.Errorf("decode outbox of %s: %w", id, err)
		}
		out[i] = app.PendingEvent{LifecycleEvent: rec.LifecycleEvent, Receipt: r}
	}
	return out, nil
}

// Ack removes e if it is still the head of id's outbox, and the index entry with the last event.
func (s *Store) Ack(ctx context.Context, id string, e app.PendingEvent) (bool, error) {
	n, err := ackScript.Run(ctx, s.rdb, []string{s.keys.outbox(id), s.keys.outboxIndex(shardOf(id))}, e.Receipt, id).Int()
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

// PendingIDs pages through the outbox indexes by id: a page costs O(log n + limit) per shard.
func (s *Store) PendingIDs(ctx context.Context, after string, limit int) ([]string, error) {
	return s.pageByID(ctx, s.keys.outboxIndex, after, limit)
}

// pageByID reads up to limit ids after the id after, in id order, from one index of ids per shard
// (each index's scores are all 0, so its lexical order is the ids'): every shard's first limit
// ids after it, in one pipeline, merged. A page costs O(log n + limit) per shard.
func (s *Store) pageByID(ctx context.Context, index func(shard int) string, after string, limit int) ([]string, error) {
	start := "-"
	if after != "" {
		start = "(" + after
	}
	limit = max(limit, 1)
	cmds, err := everyShard(ctx, s.rdb, func(p redis.Pipeliner, shard int) *redis.StringSliceCmd {
		return p.ZRangeArgs(ctx, redis.ZRangeArgs{Key: index(shard), Start: start, Stop: "+", ByLex: true, Count: int64(limit)})
	})
	if err != nil {
		return nil, unavailable(err)
	}
	var ids []string
	for _, c := range cmds {
		ids = append(ids, c.Val()...)
	}
	slices.Sort(ids)
	return ids[:min(len(ids), limit)], nil
}

// OutboxDepth is the number of deliberations with events waiting, for a metric: one ZCARD per
// shard, in one pipeline.
func (s *Store) OutboxDepth(ctx context.Context) (int64, error) {
	cmds, err := everyShard(ctx, s.rdb, func(p redis.Pipeliner, shard int) *redis.IntCmd {
		return p.ZCard(ctx, s.keys.outboxIndex(shard))
	})
	if err != nil {
		return 0, unavailable(err)
	}
	var n int64
	for _, c := range cmds {
		n += c.Val()
	}
	return n, nil
}

// Stopping pages through the indexes of cancelled deliberations whose Ray side is still to be
// stopped, by id: O(log n + limit) per shard.
func (s *Store) Stopping(ctx context.Context, after string, limit int) ([]string, error) {
	return s.pageByID(ctx, s.keys.stopping, after, limit)
}

// Stopped removes id from its shard's stop index once its Ray side is stopped.
func (s *Store) Stopped(ctx context.Context, id string) error {
	if err := s.rdb.ZRem(ctx, s.keys.stopping(shardOf(id)), id).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}
