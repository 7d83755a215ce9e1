-- Applies one transition if the entry is still what the caller read: a compare-and-set. KEYS (all
-- in the deliberation's shard, one slot): entry, the shard's active index, request, the shard's
-- stats, outbox of the deliberation, the shard's outbox index, idempotency record, the shard's
-- index of cancelled deliberations whose Ray side is still to be stopped, the shard's active index of
-- the deliberation's caller. ARGV: the entry as read,
-- the new entry, "1" when the transition makes it terminal ("2": a cancel, whose id also joins the
-- stop index), retention ms, id, the counter deltas (active, completed, failed, cancelled,
-- exec_sum_ms, exec_count), then the outbox records of its events. Answers "ok", "stale" (the entry changed since it was read, nothing written) or "gone".
-- The terminal transition gives the entry and its idempotency record one new expiry, so a reused
-- key meets its fingerprint for as long as the entry it names exists, and drops the request:
-- nothing reads it once the deliberation ended, and kept for the retention it let a create-cancel
-- loop fill Redis.
local current = redis.call('GET', KEYS[1])
if not current then
  return 'gone'
end
if current ~= ARGV[1] then
  return 'stale'
end
if ARGV[3] == '1' or ARGV[3] == '2' then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
  redis.call('ZREM', KEYS[2], ARGV[5])
  redis.call('ZREM', KEYS[9], ARGV[5])
  redis.call('DEL', KEYS[3])
  redis.call('PEXPIRE', KEYS[7], ARGV[4])
  if ARGV[3] == '2' then
    redis.call('ZADD', KEYS[8], 0, ARGV[5])
  end
else
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
end
local counters = {'active', 'completed', 'failed', 'cancelled', 'exec_sum_ms', 'exec_count'}
for i, field in ipairs(counters) do
  local delta = tonumber(ARGV[5 + i])
  if delta ~= 0 then
    redis.call('HINCRBY', KEYS[4], field, delta)
  end
end
if #ARGV > 11 then
  redis.call('RPUSH', KEYS[5], unpack(ARGV, 12))
  redis.call('PEXPIRE', KEYS[5], ARGV[4])
  redis.call('ZADD', KEYS[6], 0, ARGV[5])
end
return 'ok'
