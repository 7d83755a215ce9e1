-- Forgets an attempt's placement on a cluster once its record is gone from that cluster.
-- KEYS[1]: the attempt's placement hash; KEYS[2]: the cluster's outstanding set.
-- ARGV: submission id, cluster name. Answers how many outstanding attempts were removed (0 or 1).
if redis.call('HGET', KEYS[1], 'cluster') == ARGV[2] then
  redis.call('DEL', KEYS[1])
end
return redis.call('ZREM', KEYS[2], ARGV[1])
