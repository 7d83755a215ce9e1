-- One page of the active index, oldest first. KEYS: active index. ARGV: cursor score ('' for the
-- start), cursor id, limit, entry key prefix. The cursor's member is found by rank when it is still
-- active; when it finished meanwhile, by its score, skipping the members of that score that sort
-- before it. Cost: O(log n + page). Answers id, score, entry triples for up to limit+1 members
-- (the extra one tells the caller that a next page exists).
local index, limit, prefix = KEYS[1], tonumber(ARGV[3]), ARGV[4]
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
local members = redis.call('ZRANGE', index, start, start + limit, 'WITHSCORES')
local out = {}
for i = 1, #members, 2 do
  local entry = redis.call('GET', prefix .. members[i])
  if entry then
    out[#out + 1] = members[i]
    out[#out + 1] = members[i + 1]
    out[#out + 1] = entry
  end
end
return out
