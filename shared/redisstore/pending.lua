-- Reads the head of a deliberation's outbox. KEYS: its outbox, its shard's outbox index (one
-- slot). ARGV: limit, id.
-- An outbox that is gone (emptied or expired) leaves the index, so a stale entry cannot linger.
local events = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #events == 0 then
  redis.call('ZREM', KEYS[2], ARGV[2])
end
return events
