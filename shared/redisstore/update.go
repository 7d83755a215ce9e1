package redisstore

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

var (
	//go:embed update.lua
	updateLua    string
	updateScript = redis.NewScript(updateLua)
)

// maxUpdateRounds bounds optimistic retries; each lost round means another caller changed the
// entry, and after a terminal change every later round is a read that changes nothing.
const maxUpdateRounds = 50

// Update reads the entry, applies change, and writes the new entry with its counter delta and the
// events it causes (into the outbox, when enabled) in one compare-and-set script: when another
// caller changed the entry in between, nothing is written and the round starts again, so only the
// winning change records its events. Two round trips per transition that wins.
func (s *Store) Update(ctx context.Context, id string, change app.Change) (deliberation.Deliberation, bool, error) {
	return s.update(ctx, id, nil, change)
}

// UpdateFrom is Update for a caller that holds the entry as it was last stored: the first round
// compares against it instead of reading, one round trip when nobody changed the entry since.
func (s *Store) UpdateFrom(ctx context.Context, known deliberation.Deliberation, change app.Change) (deliberation.Deliberation, bool, error) {
	raw, err := encodeEntry(known)
	if err != nil {
		return deliberation.Deliberation{}, false, err
	}
	return s.update(ctx, known.ID, &snapshot{raw: raw, entry: known}, change)
}

func (s *Store) update(ctx context.Context, id string, cur *snapshot, change app.Change) (deliberation.Deliberation, bool, error) {
	for range maxUpdateRounds {
		if cur == nil {
			var err error
			if cur, err = s.read(ctx, id); err != nil {
				return deliberation.Deliberation{}, false, err
			}
		}
		next, changed := change(cur.entry)
		if !changed {
			if cur.read {
				return cur.entry, false, nil
			}
			cur = nil // "no change" to a vouched-for entry must hold for the stored one too
			continue
		}
		won, err := s.compareAndSet(ctx, cur, next)
		if err != nil {
			return deliberation.Deliberation{}, false, err
		}
		if won {
			return next, true, nil
		}
		cur = nil
	}
	return deliberation.Deliberation{}, false, deliberation.Errorf(deliberation.CodeUnavailable, "deliberation %s is too contended", id)
}

// compareAndSet writes next and what the transition from before moves (counters, the active
// index, the retention of a finished deliberation and of its request and idempotency record, the
// outbox) if the stored entry is still
// before's bytes; false means it is not, and nothing was written.
func (s *Store) compareAndSet(ctx context.Context, before *snapshot, next deliberation.Deliberation) (bool, error) {
	entry, err := encodeEntry(next)
	if err != nil {
		return false, err
	}
	records, err := s.outboxRecords(before.entry, next)
	if err != nil {
		return false, err
	}
	terminal := "0"
	if next.Status.Terminal() && !before.entry.Status.Terminal() {
		terminal = "1"
		if next.Status == deliberation.StatusCancelled {
			terminal = "2"
		}
	}
	delta := deliberation.DeltaOf(before.entry, next)
	args := append([]any{before.raw, entry, terminal, s.retention.Milliseconds(), next.ID,
		delta.Active, delta.Completed, delta.Failed, delta.Cancelled, delta.ExecutionTimeSumMS, delta.TimedCount}, records...)
	shard := shardOf(next.ID)
	answer, err := s.run(ctx, updateScript,
		[]string{s.keys.entry(next.ID), s.keys.active(shard), s.keys.request(next.ID), s.keys.stats(shard),
			s.keys.outbox(next.ID), s.keys.outboxIndex(shard), s.keys.idem(next.ID), s.keys.stopping(shard), s.keys.callerActive(shard, next.Caller)},
		args...,
	).Text()
	if err != nil {
		return false, unavailable(err)
	}
	switch answer {
	case "ok":
		return true, nil
	case "stale":
		return false, nil
	case "gone":
		return false, notFound(next.ID)
	}
	return false, fmt.Errorf("update script answered %q", answer)
}
