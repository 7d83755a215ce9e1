-- Places an attempt on one cluster, or answers where it already is.
-- KEYS[1]: the attempt's placement hash; KEYS[2..]: the outstanding set of each candidate cluster.
-- ARGV: submission id, now (ms), stale cutoff (ms), placement TTL (ms), pool, tie-break offset,
-- then a name and a capacity per candidate, in the order of KEYS[2..].
-- Answers {cluster, 1} for a new placement, {cluster, 0} for an existing one, {} when the attempt
-- has none and no candidate was given.
local cur = redis.call('HGET', KEYS[1], 'cluster')
if cur then
  return {cur, 0}
end
local n = #KEYS - 1
if n < 1 then
  return {}
end
local best, bestLoad
local start = tonumber(ARGV[6])
for j = 0, n - 1 do
  local i = ((start + j) % n) + 1
  -- Members older than any attempt can live are leaks (a delete that never came): drop them.
  redis.call('ZREMRANGEBYSCORE', KEYS[i + 1], '-inf', ARGV[3])
  local load = redis.call('ZCARD', KEYS[i + 1]) / tonumber(ARGV[6 + 2 * i])
  if best == nil or load < bestLoad then
    best, bestLoad = i, load
  end
end
local name = ARGV[5 + 2 * best]
redis.call('HSET', KEYS[1], 'cluster', name, 'pool', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[best + 1], ARGV[2], ARGV[1])
return {name, 1}
