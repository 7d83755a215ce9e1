package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// maxUpdateRounds bounds optimistic retries; each lost round means another caller changed the
// entry, and after a terminal change every later round is a read that changes nothing.
const maxUpdateRounds = 50

// Update reads the entry under WATCH, applies change, and writes the new entry with its counter
// delta and the events it causes (into the outbox, when enabled) in one MULTI; a concurrent writer
// makes EXEC fail and the round start again, so only the winning change records its events.
func (s *Store) Update(ctx context.Context, id string, change app.Change) (deliberation.Deliberation, bool, error) {
	key := s.keys.entry(id)
	var after deliberation.Deliberation
	var won bool
	txf := func(tx *redis.Tx) error {
		raw, err := tx.Get(ctx, key).Bytes()
		if errors.Is(err, redis.Nil) {
			return deliberation.Errorf(deliberation.CodeNotFound, "Deliberation %s not found", id)
		}
		if err != nil {
			return err
		}
		before, err := decodeEntry(raw)
		if err != nil {
			return err
		}
		next, changed := change(before)
		if !changed {
			after, won = before, false
			return nil
		}
		entry, err := json.Marshal(next)
		if err != nil {
			return fmt.Errorf("encode entry: %w", err)
		}
		records, err := s.outboxRecords(before, next)
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			s.write(ctx, p, before, next, entry)
			s.recordEvents(ctx, p, next.ID, records)
			return nil
		})
		if err == nil {
			after, won = next, true
		}
		return err
	}
	for range maxUpdateRounds {
		err := s.rdb.Watch(ctx, txf, key)
		switch {
		case err == nil:
			return after, won, nil
		case errors.Is(err, redis.TxFailedErr):
			continue
		case deliberation.ErrorCode(err) != deliberation.CodeInternal:
			return deliberation.Deliberation{}, false, err
		default:
			return deliberation.Deliberation{}, false, unavailable(err)
		}
	}
	return deliberation.Deliberation{}, false, deliberation.Errorf(deliberation.CodeUnavailable, "deliberation %s is too contended", id)
}

// write queues the new entry and what the transition moves: counters, the active index, and the
// retention of a finished deliberation.
func (s *Store) write(ctx context.Context, p redis.Pipeliner, before, after deliberation.Deliberation, entry []byte) {
	terminal := after.Status.Terminal() && !before.Status.Terminal()
	if terminal {
		p.Set(ctx, s.keys.entry(after.ID), entry, s.retention)
		p.ZRem(ctx, s.keys.active(), after.ID)
		p.PExpire(ctx, s.keys.request(after.ID), s.retention)
	} else {
		p.Set(ctx, s.keys.entry(after.ID), entry, redis.KeepTTL)
	}
	delta := deliberation.DeltaOf(before, after)
	for field, v := range map[string]int64{
		"active": delta.Active, "completed": delta.Completed, "failed": delta.Failed,
		"exec_sum_ms": delta.ExecutionTimeSumMS, "exec_count": delta.TimedCount,
	} {
		if v != 0 {
			p.HIncrBy(ctx, s.keys.stats(), field, v)
		}
	}
}
