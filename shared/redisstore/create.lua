-- Creates a deliberation atomically. KEYS (the first seven in the deliberation's shard, one slot):
-- entry, request, idempotency record, the shard's active index, the shard's stats, outbox of the
-- deliberation, the shard's outbox index; then, on one primary with a limit, the stats of every
-- other shard (read only, for their active count: the limit is then exact; on Redis Cluster they
-- are not given, so the script stays in one slot). ARGV: entry JSON, request JSON, request
-- fingerprint, submitted-at ms, id, max active (<= 0: no limit), retention ms, lifetime ms of an
-- active entry (its timeout plus the retention), the active count of the other shards as read just
-- before (on Redis Cluster; else 0), then the outbox records of the events the creation causes
-- (none when events are off). Answers {"created"}, {"exists", entry}, {"conflict"} or {"too_many"}.
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
local maxActive = tonumber(ARGV[6])
if maxActive > 0 then
  local active = tonumber(ARGV[9]) + tonumber(redis.call('HGET', KEYS[5], 'active') or '0')
  for i = 8, #KEYS do
    active = active + tonumber(redis.call('HGET', KEYS[i], 'active') or '0')
  end
  if active >= maxActive then
    return {'too_many'}
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[8])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[8])
redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[8])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[5])
redis.call('HINCRBY', KEYS[5], 'total', 1)
redis.call('HINCRBY', KEYS[5], 'active', 1)
redis.call('HSETNX', KEYS[5], 'since_ms', ARGV[4])
if #ARGV > 9 then
  redis.call('RPUSH', KEYS[6], unpack(ARGV, 10))
  redis.call('PEXPIRE', KEYS[6], ARGV[7])
  redis.call('ZADD', KEYS[7], 0, ARGV[5])
end
return {'created'}
