-- Creates a deliberation atomically. KEYS (the first eight in the deliberation's shard, one slot):
-- entry, request, idempotency record, the shard's active index, the shard's stats, outbox of the
-- deliberation, the shard's outbox index, the shard's active index of the deliberation's caller;
-- then, on one primary, ARGV[12] stats keys of the other shards (read only, for their active
-- count: the limit is then exact) and, with a caller limit, the caller's active indexes of the
-- other shards (read only); on Redis Cluster neither is given, so the script stays in one slot.
-- ARGV: entry JSON, request JSON, request fingerprint, submitted-at ms, id, max active (<= 0: no
-- limit), retention ms, lifetime ms of an active entry (its timeout plus the retention), the active
-- count of the other shards as read just before (on Redis Cluster; else 0), the caller's max active
-- (<= 0: no limit), the caller's active count in the other shards as read just before (on Redis
-- Cluster; else 0), how many other shards' stats keys follow the eighth key, the caller's name (""
-- for none), then the outbox records of the events the creation causes (none when events are off).
-- Answers {"created"}, {"exists", entry}, {"conflict"}, {"too_many"} or {"too_many_caller"}.
-- The entry, its request and its idempotency record share one expiry: an abandoned entry ends
-- some time after its deadline, and a key never outlives, or is outlived by, what it names.
local fingerprint = redis.call('GET', KEYS[3])
if fingerprint and fingerprint ~= ARGV[3] then
  return {'conflict'}
end
local existing = redis.call('GET', KEYS[1])
if existing then
  return {'exists', existing}
end
local otherStats = tonumber(ARGV[12])
local maxActive = tonumber(ARGV[6])
if maxActive > 0 then
  local active = tonumber(ARGV[9]) + tonumber(redis.call('HGET', KEYS[5], 'active') or '0')
  for i = 9, 8 + otherStats do
    active = active + tonumber(redis.call('HGET', KEYS[i], 'active') or '0')
  end
  if active >= maxActive then
    return {'too_many'}
  end
end
local callerMax = tonumber(ARGV[10])
if callerMax > 0 then
  local mine = tonumber(ARGV[11]) + redis.call('ZCARD', KEYS[8])
  for i = 9 + otherStats, #KEYS do
    mine = mine + redis.call('ZCARD', KEYS[i])
  end
  if mine >= callerMax then
    return {'too_many_caller'}
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[8])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[8])
redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[8])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[5])
if ARGV[13] ~= '' then
  redis.call('ZADD', KEYS[8], ARGV[4], ARGV[5])
end
redis.call('HINCRBY', KEYS[5], 'total', 1)
redis.call('HINCRBY', KEYS[5], 'active', 1)
redis.call('HSETNX', KEYS[5], 'since_ms', ARGV[4])
if #ARGV > 13 then
  redis.call('RPUSH', KEYS[6], unpack(ARGV, 14))
  redis.call('PEXPIRE', KEYS[6], ARGV[7])
  redis.call('ZADD', KEYS[7], 0, ARGV[5])
end
return {'created'}
