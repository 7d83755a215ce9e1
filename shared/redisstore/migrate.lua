-- Moves one deliberation from the unsharded layout (before Shards) into its shard. KEYS: old
-- entry, request, idempotency record, outbox; new entry, request, idempotency record, outbox; old
-- active index, new (the shard's); old outbox index, new; old stop index, new. ARGV: id. RENAME
-- keeps each key's expiry; a key the new layout already holds wins over the old one. Answers 1
-- when the id was active (moved into the shard's active index), else 0. The keys span slots: this
-- runs only on a single primary (standalone, Sentinel), where the old layout could exist.
for i = 1, 4 do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    if redis.call('EXISTS', KEYS[i + 4]) == 1 then
      redis.call('DEL', KEYS[i])
    else
      redis.call('RENAME', KEYS[i], KEYS[i + 4])
    end
  end
end
local active = 0
for i = 9, 13, 2 do
  local score = redis.call('ZSCORE', KEYS[i], ARGV[1])
  if score then
    redis.call('ZADD', KEYS[i + 1], score, ARGV[1])
    redis.call('ZREM', KEYS[i], ARGV[1])
    if i == 9 then active = 1 end
  end
end
return active
