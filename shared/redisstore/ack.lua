-- Removes a published event, only if it is still the head of its outbox: a concurrent deliverer
-- that removed it first must not make this one remove the next, unpublished event. KEYS: the
-- outbox, its shard's outbox index (one slot). ARGV: the event's record as read, the deliberation
-- id. Answers 1 when removed, 0 otherwise. The last event takes the index entry with it.
if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[1] then
  return 0
end
redis.call('LPOP', KEYS[1])
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[2])
end
return 1
