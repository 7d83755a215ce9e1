-- The head of one shard's active index after a cursor, oldest first. KEYS: the shard's active
-- index. ARGV: cursor score ('' for the start), cursor id, count. The members after the cursor
-- (a higher score, or the same score and a higher id: the index's own order) are found by the
-- cursor's rank when it is a member of this index and still active; otherwise by its score,
-- skipping the members of that score that sort before it. Cost: O(log n + count). Answers id,
-- score pairs, up to count of them; the entries are read afterwards (active.go), so the script
-- touches only the key it is given.
local index, count = KEYS[1], tonumber(ARGV[3])
local start = 0
if ARGV[1] ~= '' then
  local rank = redis.call('ZRANK', index, ARGV[2])
  if rank then
    start = rank + 1
  else
    start = redis.call('ZCOUNT', index, '-inf', '(' .. ARGV[1])
    while true do
      local m = redis.call('ZRANGE', index, start, start, 'WITHSCORES')
      if #m == 0 or tonumber(m[2]) ~= tonumber(ARGV[1]) or m[1] > ARGV[2] then break end
      start = start + 1
    end
  end
end
return redis.call('ZRANGE', index, start, start + count - 1, 'WITHSCORES')
