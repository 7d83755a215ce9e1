package redisstore

import (
	"context"
	_ "embed"
	"fmt"

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
	raw, err := pendingScript.Run(ctx, s.rdb, []string{s.keys.outbox(id), s.keys.outboxIndex()}, max(limit, 1), id).StringSlice()
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
	n, err := ackScript.Run(ctx, s.rdb, []string{s.keys.outbox(id), s.keys.outboxIndex()}, e.Receipt, id).Int()
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

// PendingIDs pages through the outbox index by id, so a page costs O(log n + limit).
func (s *Store) PendingIDs(ctx context.Context, after string, limit int) ([]string, error) {
	return s.pageByID(ctx, s.keys.outboxIndex(), after, limit)
}

// pageByID reads up to limit ids of an index of ids after the id after, in id order (the index's
// scores are all 0, so its lexical order is the ids'): a page costs O(log n + limit).
func (s *Store) pageByID(ctx context.Context, key, after string, limit int) ([]string, error) {
	start := "-"
	if after != "" {
		start = "(" + after
	}
	ids, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: key, Start: start, Stop: "+", ByLex: true, Count: int64(max(limit, 1))}).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	return ids, nil
}

// OutboxDepth is the number of deliberations with events waiting, for a metric.
func (s *Store) OutboxDepth(ctx context.Context) (int64, error) {
	n, err := s.rdb.ZCard(ctx, s.keys.outboxIndex()).Result()
	if err != nil {
		return 0, unavailable(err)
	}
	return n, nil
}

// Stopping pages through the index of cancelled deliberations whose Ray side is still to be
// stopped, by id: O(log n + limit).
func (s *Store) Stopping(ctx context.Context, after string, limit int) ([]string, error) {
	return s.pageByID(ctx, s.keys.stopping(), after, limit)
}

// Stopped removes id from the stop index once its Ray side is stopped.
func (s *Store) Stopped(ctx context.Context, id string) error {
	if err := s.rdb.ZRem(ctx, s.keys.stopping(), id).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}
