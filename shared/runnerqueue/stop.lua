-- KEYS[1] the attempt's marker, KEYS[2] the runner's record. Marks a queued or running attempt
-- STOPPED; 1 when the attempt exists in any state, 0 when there is neither marker nor record.
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return redis.call('EXISTS', KEYS[2])
end
if state == 'PENDING' or state == 'RUNNING' then
  redis.call('HSET', KEYS[1], 'state', 'STOPPED')
end
return 1
