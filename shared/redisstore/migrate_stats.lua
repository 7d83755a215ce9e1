-- Moves the counters of the unsharded layout into the shards' counters, once (the old hash goes).
-- KEYS: old stats, then the stats of shards 0 .. Shards-1. ARGV: the number of active ids moved
-- into each shard's active index (Shards values). Each shard counts its moved active ids as
-- total and active; shard 0 takes the rest (the finished, and any active count without an id),
-- so every shard keeps total = active + completed + failed + cancelled and the sums are the old
-- counters. since_ms goes to shard 0 unless a shard already started earlier. Answers 1 when
-- counters were moved, 0 when there were none.
local old = redis.call('HGETALL', KEYS[1])
if #old == 0 then
  return 0
end
local h = {}
for i = 1, #old, 2 do
  h[old[i]] = tonumber(old[i + 1])
end
local moved = 0
for s = 2, #KEYS do
  local n = tonumber(ARGV[s - 1])
  if s > 2 and n > 0 then
    redis.call('HINCRBY', KEYS[s], 'total', n)
    redis.call('HINCRBY', KEYS[s], 'active', n)
    moved = moved + n
  end
end
local first = KEYS[2]
redis.call('HINCRBY', first, 'total', (h['total'] or 0) - moved)
redis.call('HINCRBY', first, 'active', (h['active'] or 0) - moved)
for _, field in ipairs({'completed', 'failed', 'cancelled', 'exec_sum_ms', 'exec_count'}) do
  if h[field] then
    redis.call('HINCRBY', first, field, h[field])
  end
end
if h['since_ms'] then
  local since = tonumber(redis.call('HGET', first, 'since_ms') or '0')
  if since == 0 or h['since_ms'] < since then
    redis.call('HSET', first, 'since_ms', h['since_ms'])
  end
end
redis.call('DEL', KEYS[1])
return 1
